#!/usr/bin/env node
// One row per fixture for benchmarks/RESULTS.md: the original's size, what a traced run of its
// recording uses (the floor), the slim image slim builds, and whether a code-only change (v2) reuses
// the slim image's system and dependency layers.
//
//   node benchmarks/results.mjs [--rounds N] [--bandwidth RATE] [fixture ...]
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, mb, prepareFixtures, REPO as repo } from './fixtures.mjs';
import { keptSections } from './sections.mjs';

const out = path.join(repo, 'benchmarks/RESULTS.md');
$.quiet = true;

const { values: flags, positionals: wanted } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '5' }, bandwidth: { type: 'string' } },
});
const fixtures = await prepareFixtures(repo, wanted);

const short = (digest) => digest.slice(7, 19);

/** Runs a slim command under GNU time: its JSON output, wall seconds and peak RSS in MB. */
async function timed(args) {
  const result = await $`/usr/bin/time -f ${'%e %M'} node ${cli} ${args}`;
  const [seconds, rssKb] = result.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { json: JSON.parse(result.stdout), seconds, rssMb: rssKb / 1024 };
}

const rows = [];
const layerRows = [];
const surfaceRows = [];
const benchRows = [];
const secs = (s) => `${s.median.toFixed(2)} s`;
const ms = (s) => `${Math.round(s.median)} ms`;
for (const name of fixtures) {
  const recording = path.join(repo, 'fixtures', name, 'recording.json');
  const v1 = `slim-fixture/${name}:v1`;
  const v2 = `slim-fixture/${name}:v2`;
  const hasV2 = (await $`docker image inspect ${v2}`.nothrow()).exitCode === 0;
  const build1 = await timed(['build', v1, '--record', recording, '--tag', `slim-bench/${name}:v1-slim`, '--json']);
  const b1 = build1.json;
  let reuse = 'no v2';
  if (hasV2) {
    const b2 = (await timed(['build', v2, '--record', recording, '--tag', `slim-bench/${name}:v2-slim`, '--json'])).json;
    const reused = b1.slim.layers.filter((l, i) => b2.slim.layers[i]?.digest === l.digest).map((l) => l.group);
    const changed = b2.slim.layers.filter((l, i) => b1.slim.layers[i]?.digest !== l.digest);
    reuse = `${reused.join(' + ') || 'none'} reused; ${changed.map((l) => `${l.group} ${mb(l.compressedBytes)} compressed`).join(', ') || 'nothing'} new`;
    for (const [i, l] of b1.slim.layers.entries()) {
      layerRows.push(`| ${name} | ${l.title} | ${l.files} | ${mb(l.bytes)} | ${short(l.digest)} | ${short(b2.slim.layers[i]?.digest ?? '')} | ${b2.slim.layers[i]?.digest === l.digest ? 'yes' : 'no'} |`);
    }
  }
  const surface = (s) => `${s.shells.length} / ${s.packageManagers.length} / ${s.setuid.length + s.setgid.length} / ${s.executables}`;
  surfaceRows.push(`| ${name} | ${surface(b1.attackSurface.original)} | ${surface(b1.attackSurface.slim)} |`);
  rows.push(
    `| ${name} | ${mb(b1.original.visibleBytes)} | ${mb(b1.original.compressedBytes)} | ${mb(b1.tracedFloorBytes)} | ${mb(b1.slim.fileBytes)} | ${mb(b1.slim.compressedBytes)} | ` +
      `${b1.floorRatio.toFixed(3)} | ${((b1.slim.compressedBytes / b1.original.compressedBytes) * 100).toFixed(1)}% | ${b1.verification.ok ? `yes (${b1.verification.requests})` : 'NO'} | ${reuse} | ` +
      `${build1.seconds.toFixed(1)} s, ${build1.rssMb.toFixed(0)} MB |`,
  );
  if (hasV2) {
    const bandwidth = flags.bandwidth ? ['--bandwidth', flags.bandwidth] : [];
    const bench = (
      await timed(['bench', v2, `slim-bench/${name}:v2-slim`, '--record', recording, '--rounds', flags.rounds, ...bandwidth, '--update-from', `${v1},slim-bench/${name}:v1-slim`, '--json'])
    ).json;
    const o = bench.images.original;
    const sl = bench.images.slim;
    benchRows.push(
      `| ${name} | ${secs(o.pull)} / ${secs(sl.pull)} (${bench.ratios.pull}×, bytes ${bench.ratios.compressedBytes}×) | ${ms(o.firstRequestCold)} / ${ms(sl.firstRequestCold)} | ` +
        `${secs(o.coldStart)} / ${secs(sl.coldStart)} (${bench.ratios.coldStart}×) | ${ms(o.firstRequestWarm)} / ${ms(sl.firstRequestWarm)} (${bench.ratios.firstRequestWarm}×) | ` +
        `${mb(o.update.bytes)} / ${mb(sl.update.bytes)} |`,
    );
  }
  for (const tag of [`slim-bench/${name}:v1-slim`, `slim-bench/${name}:v2-slim`]) await $`docker rmi ${tag}`.nothrow();
  console.error(`[results] ${name} done`);
}

const text = [
  '# Results',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}) with \`node benchmarks/results.mjs\`.`,
  '',
  '- **original**: regular-file bytes visible in the image; **compressed**: its layers gzip -6 (the size a registry would hold).',
  '- **traced floor**: bytes of the files the recorded run itself opened, executed, mapped or looked at: the floor of any file-level slim image.',
  '- **slim**: the file bytes of the image `slim build` writes (traced files plus the static closure); **slim / floor** is their ratio.',
  '- **verified**: the recording replayed against original and slim gave identical answers (requests compared).',
  '- **v2 reuse**: building v2 (a one-line code change) after v1: which slim layers kept their digests, and what is new.',
  '- **slim time**: wall time of `slim build` (docker save, reading, tracing, writing, loading, verifying), and peak memory.',
  '',
  '| fixture | original | original compressed | traced floor | slim | slim compressed | slim / floor | compressed slim / original | verified | v2 reuse | slim time, peak RSS |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|',
  ...rows,
  '',
  `## Cold start (\`slim bench\`, median of ${flags.rounds}, ${flags.bandwidth ? `registry behind a ${flags.bandwidth} link` : 'registry on loopback'})`,
  '',
  'Original / slim, each image pulled cold into an engine holding none of its layers; first request = container create to the first',
  'successful answer of the recording\'s first request; cold start = pull + first request; update = bytes pulled for v2 when v1 is present.',
  '',
  '| fixture | cold pull | first request, cold | cold start | first request, warm | update bytes |',
  '|---|---:|---:|---:|---:|---:|',
  ...benchRows,
  '',
  '## Attack surface',
  '',
  'Shells / package managers / setuid and setgid binaries / executables, original and slim (see the README\'s "Attack surface").',
  '',
  '| fixture | original | slim |',
  '|---|---:|---:|',
  ...surfaceRows,
  '',
  '## Slim layers, v1 and v2',
  '',
  '| fixture | layer | files | size | v1 digest | v2 digest | reused |',
  '|---|---|---:|---:|---|---|---|',
  ...layerRows,
  '',
];
// sections other benchmarks own (the compression tables) stay
const kept = await keptSections(out);
await fs.writeFile(out, kept ? `${text.join('\n')}\n${kept}` : text.join('\n'));
console.log(text.join('\n'));
