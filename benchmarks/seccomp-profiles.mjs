#!/usr/bin/env node
// How stable `slim build --seccomp-out` is: builds each fixture's v1 N times, each with its own traced
// run and profile, and counts the builds whose slim image passed verification under its own profile.
// Also lists the syscalls that some runs made and others did not (what timing decides).
//
//   node benchmarks/seccomp-profiles.mjs [--builds N] [fixture ...]
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, prepareFixtures, REPO as repo } from './fixtures.mjs';

const out = path.join(repo, 'benchmarks/seccomp.md');
$.quiet = true;

const { values: flags, positionals: wanted } = parseArgs({ allowPositionals: true, options: { builds: { type: 'string', default: '3' } } });
const builds = Number(flags.builds);
const fixtures = await prepareFixtures(repo, wanted);

// what a function should never need; the profile allows a name only when the traced run made it
const NEVER = ['mount', 'umount2', 'ptrace', 'bpf', 'kexec_load', 'init_module', 'unshare', 'setns', 'pivot_root', 'keyctl'];
const { BASELINE_SYSCALLS } = await import(path.join(repo, 'dist/src/security/seccomp.js'));

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-bench-seccomp-'));
const rows = [];
const notes = [];
try {
  for (const name of fixtures) {
    const recording = path.join(repo, 'fixtures', name, 'recording.json');
    const tag = `slim-bench/${name}:seccomp`;
    const profiles = [];
    let verified = 0;
    const failures = [];
    for (let i = 0; i < builds; i++) {
      const file = path.join(work, `${name}-${i}.json`);
      const result = await $`node ${cli} build slim-fixture/${name}:v1 --record ${recording} --tag ${tag} --seccomp-out ${file} --json`.nothrow();
      if (result.exitCode === 0 && JSON.parse(result.stdout).verification.ok) {
        verified++;
        profiles.push(new Set(JSON.parse(await fs.readFile(file, 'utf8')).syscalls[0].names));
      } else {
        failures.push(result.stderr.trim().split('\n')[0]);
      }
      console.error(`[seccomp] ${name} build ${i + 1}/${builds}: exit ${result.exitCode}`);
    }
    await $`docker rmi ${tag}`.nothrow();
    const sizes = profiles.map((p) => p.size);
    const all = new Set(profiles.flatMap((p) => [...p]));
    const varying = [...all].filter((n) => !profiles.every((p) => p.has(n))).sort();
    const beyond = profiles.length ? [...profiles[0]].filter((n) => !BASELINE_SYSCALLS.includes(n)).length : 0;
    const never = NEVER.filter((n) => all.has(n));
    rows.push(
      `| ${name} | ${verified} of ${builds} | ${sizes.length ? `${Math.min(...sizes)}–${Math.max(...sizes)}` : '–'} | ${beyond} | ${varying.join(', ') || 'none'} | ${never.join(', ') || 'none'} |`,
    );
    for (const failure of failures) notes.push(`- ${name}: ${failure}`);
  }
} finally {
  await fs.rm(work, { recursive: true, force: true });
}

const text = [
  '# Seccomp profiles',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores with \`node benchmarks/seccomp-profiles.mjs --builds ${builds}\`.`,
  `Each build traces its own run of the fixture's recording, writes a profile (traced syscalls plus the ${BASELINE_SYSCALLS.length}-name baseline)`,
  'and verifies the slim image under it; Docker\'s default profile allows about 300 names.',
  '',
  '- **verified under its profile**: builds whose slim image answered every recorded request as the original did, under the profile from its own trace.',
  '- **allowed**: names in the profile, smallest and largest over the builds; **beyond the baseline**: of the first build\'s names, those the baseline does not have (what the function itself needs).',
  '- **varies between runs**: names some builds\' traces had and others did not (timing); the baseline\'s timing group keeps the ones found so far in every profile.',
  `- **never needed**: which of ${NEVER.join(', ')} any profile allows.`,
  '',
  '| fixture | verified under its profile | allowed | beyond the baseline | varies between runs | never needed, yet allowed |',
  '|---|---:|---:|---:|---|---|',
  ...rows,
  '',
  ...(notes.length ? ['Builds that failed:', '', ...notes, ''] : []),
];
await fs.writeFile(out, text.join('\n'));
console.log(text.join('\n'));
