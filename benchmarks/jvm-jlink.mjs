#!/usr/bin/env node
// jvm-http with and without --jvm-jlink, for the jvm-jlink section of benchmarks/RESULTS.md: sizes, the
// modules linked, v2's layer reuse, and a cold-start bench of the file-level slim image against the
// jlink'd one (both verified by their builds).
//
//   node benchmarks/jvm-jlink.mjs [--rounds N]
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, mb, prepareFixtures, REPO as repo } from './fixtures.mjs';
import { writeSection } from './sections.mjs';

$.quiet = true;
const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
await prepareFixtures(repo, ['jvm-http']);
// A cache of its own: v1 links (a miss), v2 takes v1's linked runtime (a hit), as on a CI runner that keeps it.
const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-bench-jlink-cache-'));
$.env = { ...process.env, SLIM_CACHE_DIR: cacheDir };
const recording = path.join(repo, 'fixtures/jvm-http/recording.json');

async function timed(args) {
  const result = await $`/usr/bin/time -f ${'%e %M'} node ${cli} ${args}`;
  const [seconds, rssKb] = result.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { json: JSON.parse(result.stdout), seconds, rssMb: rssKb / 1024 };
}

const builds = {};
for (const [variant, extra] of [['file', []], ['jlink', ['--jvm-jlink']]]) {
  for (const version of ['v1', 'v2']) {
    const tag = `slim-bench/jvm-http:${version}-${variant}`;
    console.error(`[jvm-jlink] building ${tag}`);
    builds[`${variant}-${version}`] = { tag, ...(await timed(['build', `slim-fixture/jvm-http:${version}`, '--record', recording, '--tag', tag, ...extra, '--json'])) };
  }
}
console.error('[jvm-jlink] bench: file-level slim against jlink slim');
const bench = (await timed(['bench', builds['file-v2'].tag, builds['jlink-v2'].tag, '--record', recording, '--rounds', flags.rounds, '--update-from', `${builds['file-v1'].tag},${builds['jlink-v1'].tag}`, '--json'])).json;

const row = (label, b) => {
  const r = b.json;
  const v2Build = builds[label === 'jlink' ? 'jlink-v2' : 'file-v2'];
  const modules = r.jvm?.replaced.find((x) => x.path.endsWith('/lib/modules'));
  const v2 = v2Build.json;
  const reused = r.slim.layers.filter((l) => l.group !== 'app').every((l) => v2.slim.layers.find((m) => m.group === l.group)?.digest === l.digest);
  return `| ${label} | ${mb(r.slim.fileBytes)} | ${mb(r.slim.compressedBytes)} | ${modules ? `${mb(modules.bytes)} (of ${mb(modules.originalBytes)})` : 'unchanged'} | ${r.jvm ? `${r.jvm.modules.length} roots, ${r.jvm.linked} linked` : 'all'} | ${r.verification.ok ? `yes (${r.verification.requests})` : 'NO'} | ${reused ? 'yes' : 'no'}${v2.jvm?.fromCache ? ' (runtime from the cache)' : ''} | ${b.seconds.toFixed(1)} s / ${v2Build.seconds.toFixed(1)} s, ${Math.max(b.rssMb, v2Build.rssMb).toFixed(0)} MB |`;
};
const file = builds['file-v1'];
const jlink = builds['jlink-v1'];
const secs = (s) => `${s.median.toFixed(2)} s`;
const ms = (s) => `${Math.round(s.median)} ms`;
const o = bench.images.original;
const s = bench.images.slim;
const lines = [
  '## jvm-http with `--jvm-jlink`',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores with \`node benchmarks/jvm-jlink.mjs --rounds ${flags.rounds}\`. The original is ${mb(file.json.original.visibleBytes)};`,
  `**jlink / file-level: ${(jlink.json.slim.fileBytes / file.json.slim.fileBytes).toFixed(3)}× the file bytes, ${(jlink.json.slim.compressedBytes / file.json.slim.compressedBytes).toFixed(3)}× compressed.**`,
  '',
  '| slim image | files | compressed | lib/modules | modules | verified | v2 reuses non-app layers | build time v1 / v2, peak RSS |',
  '|---|---:|---:|---:|---|---|---|---:|',
  row('file-level', file),
  row('jlink', jlink),
  '',
  builds['jlink-v2'].json.jvm.fromCache
    ? 'The jlink v2 build took the runtime v1 linked from slim\'s cache (`SLIM_CACHE_DIR`, fresh for this run), so its system and deps layers are v1\'s; it still starts the JDK for jdeps, since the changed jar is new.'
    : 'The jlink v2 build linked again (a cache miss): JDK 17\'s CDS dump is not deterministic, so its system layer is new.',
  '',
  `Modules linked: ${jlink.json.jvm.modules.join(', ')} (${jlink.json.jvm.jdk}).`,
  '',
  `Cold start, file-level / jlink (\`slim bench\`, median of ${flags.rounds}, registry on loopback):`,
  '',
  '| cold pull | first request, cold | cold start | first request, warm | update bytes |',
  '|---:|---:|---:|---:|---:|',
  `| ${secs(o.pull)} / ${secs(s.pull)} (${bench.ratios.pull}×, bytes ${bench.ratios.compressedBytes}×) | ${ms(o.firstRequestCold)} / ${ms(s.firstRequestCold)} | ${secs(o.coldStart)} / ${secs(s.coldStart)} (${bench.ratios.coldStart}×) | ${ms(o.firstRequestWarm)} / ${ms(s.firstRequestWarm)} (${bench.ratios.firstRequestWarm}×) | ${mb(o.update.bytes)} / ${mb(s.update.bytes)} |`,
  '',
];
await writeSection(path.join(repo, 'benchmarks/RESULTS.md'), 'jvm-jlink', lines);
for (const b of Object.values(builds)) await $`docker rmi ${b.tag}`.nothrow();
await fs.rm(cacheDir, { recursive: true, force: true });
console.log(lines.join('\n'));
