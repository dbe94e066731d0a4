#!/usr/bin/env node
// jvm-http with and without --jvm-jlink, for the jvm-jlink section of benchmarks/RESULTS.md: sizes, the
// modules linked, v2's layer reuse, and a cold-start bench of the file-level slim image against the
// jlink'd one (both verified by their builds).
//
//   node benchmarks/jvm-jlink.mjs [--rounds N]
import { parseArgs } from 'node:util';
import { $, os, path } from 'zx';
import { CLI as cli, mb, prepareFixtures, REPO as repo } from './fixtures.mjs';
import { writeSection } from './sections.mjs';

$.quiet = true;
const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
await prepareFixtures(repo, ['jvm-http']);
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
  const modules = r.jvm?.replaced.find((x) => x.path.endsWith('/lib/modules'));
  const v2 = builds[label === 'jlink' ? 'jlink-v2' : 'file-v2'].json;
  const reused = r.slim.layers.filter((l) => l.group !== 'app').every((l) => v2.slim.layers.find((m) => m.group === l.group)?.digest === l.digest);
  return `| ${label} | ${mb(r.slim.fileBytes)} | ${mb(r.slim.compressedBytes)} | ${modules ? `${mb(modules.bytes)} (of ${mb(modules.originalBytes)})` : 'unchanged'} | ${r.jvm ? `${r.jvm.modules.length} roots, ${r.jvm.linked} linked` : 'all'} | ${r.verification.ok ? `yes (${r.verification.requests})` : 'NO'} | ${reused ? 'yes' : 'no'} | ${b.seconds.toFixed(1)} s, ${b.rssMb.toFixed(0)} MB |`;
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
  '| slim image | files | compressed | lib/modules | modules | verified | v2 reuses non-app layers | build time, peak RSS |',
  '|---|---:|---:|---:|---|---|---|---:|',
  row('file-level', file),
  row('jlink', jlink),
  '',
  ...(row('jlink', jlink).includes('| no |') ? ['The jlink image\'s v2 writes a new system layer: see "Known gap" under `--jvm-jlink` in the README (JDK 17\'s CDS dump is not deterministic).', ''] : []),
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
console.log(lines.join('\n'));
