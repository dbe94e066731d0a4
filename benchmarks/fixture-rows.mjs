// One fixture measured for benchmarks/RESULTS.md: slim build of v1 (and v2, for layer reuse) under GNU
// time, and a bench of v2 with --update-from v1. Shared by results.mjs and platforms.mjs.
import { $ } from 'zx';
import { CLI as cli, mb } from './fixtures.mjs';

const short = (digest) => digest.slice(7, 19);
const secs = (s) => `${s.median.toFixed(2)} s`;
const ms = (s) => `${Math.round(s.median)} ms`;

/** Runs a slim command under GNU time: its JSON output, wall seconds and peak RSS in MB. */
async function timed(args) {
  const result = await $`/usr/bin/time -f ${'%e %M'} node ${cli} ${args}`;
  const [seconds, rssKb] = result.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { json: JSON.parse(result.stdout), seconds, rssMb: rssKb / 1024 };
}

/** The table rows of one fixture: sizes, layers of v1 and v2, attack surface, and the cold-start bench. */
export async function measureFixture(repo, name, { rounds, bandwidth }) {
  const recording = `${repo}/fixtures/${name}/recording.json`;
  const v1 = `slim-fixture/${name}:v1`;
  const v2 = `slim-fixture/${name}:v2`;
  const layerRows = [];
  let benchRow;
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
  const surfaceRow = `| ${name} | ${surface(b1.attackSurface.original)} | ${surface(b1.attackSurface.slim)} |`;
  const row =
    `| ${name} | ${mb(b1.original.visibleBytes)} | ${mb(b1.original.compressedBytes)} | ${mb(b1.tracedFloorBytes)} | ${mb(b1.slim.fileBytes)} | ${mb(b1.slim.compressedBytes)} | ` +
    `${b1.floorRatio.toFixed(3)} | ${((b1.slim.compressedBytes / b1.original.compressedBytes) * 100).toFixed(1)}% | ${b1.verification.ok ? `yes (${b1.verification.requests})` : 'NO'} | ${reuse} | ` +
    `${build1.seconds.toFixed(1)} s, ${build1.rssMb.toFixed(0)} MB |`;
  if (hasV2) {
    const link = bandwidth ? ['--bandwidth', bandwidth] : [];
    const bench = (
      await timed(['bench', v2, `slim-bench/${name}:v2-slim`, '--record', recording, '--rounds', rounds, ...link, '--update-from', `${v1},slim-bench/${name}:v1-slim`, '--json'])
    ).json;
    const o = bench.images.original;
    const sl = bench.images.slim;
    benchRow =
      `| ${name} | ${secs(o.pull)} / ${secs(sl.pull)} (${bench.ratios.pull}×, bytes ${bench.ratios.compressedBytes}×) | ${ms(o.firstRequestCold)} / ${ms(sl.firstRequestCold)} | ` +
      `${secs(o.coldStart)} / ${secs(sl.coldStart)} (${bench.ratios.coldStart}×) | ${ms(o.firstRequestWarm)} / ${ms(sl.firstRequestWarm)} (${bench.ratios.firstRequestWarm}×) | ` +
      `${mb(o.update.bytes)} / ${mb(sl.update.bytes)} |`;
  }
  for (const tag of [`slim-bench/${name}:v1-slim`, `slim-bench/${name}:v2-slim`]) await $`docker rmi ${tag}`.nothrow();
  return { row, layerRows, surfaceRow, benchRow };
}

/** The header lines of the tables those rows go in. */
export const TABLE_HEADERS = {
  sizes: [
    '| fixture | original | original compressed | traced floor | slim | slim compressed | slim / floor | compressed slim / original | verified | v2 reuse | slim time, peak RSS |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|',
  ],
  bench: ['| fixture | cold pull | first request, cold | cold start | first request, warm | update bytes |', '|---|---:|---:|---:|---:|---:|'],
};
