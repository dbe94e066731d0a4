#!/usr/bin/env node
// Is a slim image's warm start different from the original's, and why? For each fixture:
// 1. many warm starts, alternating which image goes first (`slim bench --warm-rounds`, docker node);
// 2. the function's own work up to its first answer: both root filesystems are exported and the image's
//    command runs under `strace -f -c` in a chroot (unshare --root) until the readiness request answers. Identical syscall
//    counts mean the process does the same work on both, so any gap in (1) is the engine's, not the image's.
// Writes the "warm-start" section of benchmarks/RESULTS.md.
//
//   node benchmarks/warm-start.mjs [--warm-rounds N] [fixture ...]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, prepareFixtures, REPO as repo } from './fixtures.mjs';
import { writeSection } from './sections.mjs';

$.quiet = true;
const { values: flags, positionals: wanted } = parseArgs({ allowPositionals: true, options: { 'warm-rounds': { type: 'string', default: '30' } } });
const fixtures = await prepareFixtures(repo, wanted.length ? wanted : ['python-flask', 'ml-inference']);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-warm-start-bench-'));
const PORT = 19123;

async function exportRoot(image, dir) {
  await fs.mkdirp(dir);
  const id = (await $`docker create ${image}`).stdout.trim();
  try {
    await $`docker export ${id} | tar -x -C ${dir}`;
  } finally {
    await $`docker rm ${id}`.nothrow();
  }
}

/** strace -c totals per syscall for the image's command in a chroot, from exec to the first 2xx of `readyPath`. */
async function syscallsToFirstAnswer(image, rootDir, readyPath) {
  const config = JSON.parse((await $`docker image inspect ${image}`).stdout)[0].Config;
  const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  const env = Object.fromEntries((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const cwd = config.WorkingDir || '/';
  const summary = path.join(work, `${path.basename(rootDir)}.strace`);
  // unshare chroots and changes directory itself: the slim root may have no `env` or shell to do it
  const child = spawn('strace', ['-f', '-c', '-o', summary, 'unshare', `--root=${rootDir}`, `--wd=${cwd}`, ...argv], {
    env: { ...env, PORT: String(PORT), FC_SERVER_PORT: String(PORT) },
    stdio: 'ignore',
  });
  try {
    for (let i = 0; ; i++) {
      if ((await $`curl -sf -o /dev/null http://127.0.0.1:${PORT}${readyPath}`.nothrow()).exitCode === 0) break;
      if (i > 600 || child.exitCode !== null) throw new Error(`${image} never answered ${readyPath} under strace`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    // end the traced function (strace's children), so strace writes its summary and exits
    const exited = child.exitCode === null ? new Promise((r) => child.once('exit', r)) : Promise.resolve();
    await $`pkill -TERM -P ${child.pid}`.nothrow();
    await exited;
  }
  const counts = {};
  for (const line of (await fs.readFile(summary, 'utf8')).split('\n')) {
    const m = line.trim().match(/^[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$/);
    if (m && m[3] !== 'total') counts[m[3]] = { calls: Number(m[1]), errors: Number(m[2] ?? 0) };
  }
  return counts;
}

const sum = (counts, key) => Object.values(counts).reduce((n, c) => n + c[key], 0);
const rows = [];
const diffs = [];
try {
  for (const fixture of fixtures) {
    const original = `slim-fixture/${fixture}:v1`;
    const recording = path.join(repo, 'fixtures', fixture, 'recording.json');
    const slimTag = `slim-bench/${fixture}:warm-start`;
    await $`node ${cli} build ${original} --record ${recording} --tag ${slimTag} --json`;
    const report = JSON.parse((await $`node ${cli} bench ${original} ${slimTag} --record ${recording} --rounds 1 --warm-rounds ${flags['warm-rounds']} --json`).stdout);
    const [o, s] = [report.images.original.firstRequestWarm, report.images.slim.firstRequestWarm];
    const readyPath = JSON.parse(await fs.readFile(recording, 'utf8')).readiness?.http ?? '/';
    const counts = [];
    for (const [image, name] of [[original, 'original'], [slimTag, 'slim']]) {
      const dir = path.join(work, `${fixture}-${name}`);
      await exportRoot(image, dir);
      counts.push(await syscallsToFirstAnswer(image, dir, readyPath));
      await fs.remove(dir);
    }
    const [co, cs] = counts;
    const differing = [...new Set([...Object.keys(co), ...Object.keys(cs)])]
      .filter((k) => (co[k]?.calls ?? 0) !== (cs[k]?.calls ?? 0) || (co[k]?.errors ?? 0) !== (cs[k]?.errors ?? 0))
      .map((k) => `${k} ${co[k]?.calls ?? 0}/${co[k]?.errors ?? 0} → ${cs[k]?.calls ?? 0}/${cs[k]?.errors ?? 0}`);
    diffs.push(`- ${fixture}: ${differing.length ? differing.join('; ') : 'none'}`);
    rows.push(
      `| ${fixture} | ${Math.round(o.median)} ms (${Math.round(o.min)}–${Math.round(o.max)}) | ${Math.round(s.median)} ms (${Math.round(s.min)}–${Math.round(s.max)}) | ${(s.median / o.median).toFixed(3)}× | ${sum(co, 'calls')} / ${sum(co, 'errors')} | ${sum(cs, 'calls')} / ${sum(cs, 'errors')} |`,
    );
    await $`docker rmi ${slimTag}`.nothrow();
  }
} finally {
  // a failed run leaves neither exported roots nor traces behind
  await fs.remove(work);
}

const cpu = (await fs.readFile('/proc/cpuinfo', 'utf8')).match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
await writeSection(path.join(repo, 'benchmarks/RESULTS.md'), 'warm-start', [
  `## Warm start: slim against the original (\`node benchmarks/warm-start.mjs\`, ${flags['warm-rounds']} alternating pairs, docker node)`,
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${cpu}). Syscalls: \`strace -f -c\` of the image's`,
  'command in a chroot of its exported root (`unshare --root --wd`), from exec until the readiness request answers (calls / failed calls).',
  '',
  '| fixture | original warm | slim warm | slim / original | original syscalls | slim syscalls |',
  '|---|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  'Syscalls whose counts differ (original calls/errors → slim calls/errors):',
  '',
  ...diffs,
  '',
  'Equal counts of opens, stats and failed lookups mean the function does the same work from either root: no cache file or',
  'search path is missing in the slim image, and a warm gap within the spread of the samples is the engine\'s, not the image\'s.',
]);
console.log(rows.join('\n'));
console.log(diffs.join('\n'));
