#!/usr/bin/env node
// benchmarks/FLEET.md: the Node and the Python fleet (fixtures/fleet) shipped three ways, each function
// started in turn on one clean node through a registry: the originals (which share their team base),
// per-image slim images (`slim build` each), and the fleet images (`slim fleet build`). Also: the shared
// layer digests across a one-line code change, what a node re-pulls for it, and how the delta layers
// grow when a function joins a pinned fleet.
//
//   node benchmarks/fleet.mjs [--rounds N] [--bandwidth RATE] [node|python ...]
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, REPO as repo, mb } from './fixtures.mjs';

const out = path.join(repo, 'benchmarks/FLEET.md');
$.quiet = true;

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, bandwidth: { type: 'string' } },
});
const fleets = positionals.length ? positionals : ['node', 'python'];
const log = (line) => process.stderr.write(`[fleet] ${line}\n`);
const secs = (s) => `${s.median.toFixed(2)} s`;
const ratio = (a, b) => (b ? (a / b).toFixed(3) : '-');
const short = (digest) => digest.slice(7, 19);

await $({ cwd: repo })`npm run --silent build`;
await $({ cwd: repo })`node fixtures/build.mjs`;
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-fleet-bench-'));
const slim = async (args) => JSON.parse((await $`node ${cli} ${args}`).stdout);
const tags = [];

/** The fixture fleet file with bench tags: fleet images `:VERSION-fleet`, per-image slim images `:VERSION-single`. */
async function fleetFile(name, file, only) {
  const fixture = await fs.readJson(path.join(repo, 'fixtures/fleet', file));
  const functions = fixture.functions
    .filter((f) => !only || only.includes(f.image))
    .map((f) => {
      const [repoName, version] = f.image.replace('slim-fixture/', '').split(':');
      return { ...f, recording: path.join(repo, 'fixtures/fleet', f.recording), tag: `slim-bench/${repoName}:${version}-fleet`, singleTag: `slim-bench/${repoName}:${version}-single` };
    });
  const target = path.join(work, name);
  await fs.writeJson(target, { ...fixture, functions }, { spaces: 2 });
  tags.push(...functions.flatMap((f) => [f.tag, f.singleTag]));
  return { file: target, functions };
}

const sections = [];
const targetRows = [];
try {
  for (const lang of fleets) {
    log(`${lang}: per-image slim images`);
    const v1 = await fleetFile(`${lang}-v1.json`, `${lang}.json`);
    const v2 = await fleetFile(`${lang}-v2.json`, `${lang}-v2.json`);
    const singles = {};
    for (const f of [...v1.functions, ...v2.functions.filter((g) => !v1.functions.some((h) => h.image === g.image))]) {
      singles[f.image] = await slim(['build', f.image, '--record', f.recording, '--tag', f.singleTag, '--json']);
    }

    log(`${lang}: fleet build, then v2 with the state`);
    const state = path.join(work, `${lang}-state.json`);
    const builtV1 = await slim(['fleet', 'build', v1.file, '--state', state, '--json']);
    const builtV2 = await slim(['fleet', 'build', v2.file, '--state', state, '--json']);
    const sameShared = builtV1.sharedLayers.every((l) => builtV2.sharedLayers.find((m) => m.id === l.id)?.digest === l.digest);
    const changed = v2.functions.find((f) => !v1.functions.some((g) => g.image === f.image));
    const changedReport = builtV2.functions.find((f) => f.image === changed.image);
    const appLayer = changedReport.layers.at(-1);

    log(`${lang}: delta layers when the last function joins a pinned fleet`);
    const lastImage = v1.functions.at(-1).image;
    const without = await fleetFile(`${lang}-without-last.json`, `${lang}.json`, v1.functions.slice(0, -1).map((f) => f.image));
    const joinState = path.join(work, `${lang}-join-state.json`);
    const before = await slim(['fleet', 'build', without.file, '--state', joinState, '--json']);
    const joined = await slim(['fleet', 'build', v1.file, '--state', joinState, '--json']);
    const joiner = joined.functions.find((f) => f.image === lastImage);

    log(`${lang}: bench, ${flags.rounds} rounds`);
    const bandwidth = flags.bandwidth ? ['--bandwidth', flags.bandwidth] : [];
    const bench = await slim(['bench', '--fleet', v2.file, '--update-from', v1.file, '--rounds', flags.rounds, ...bandwidth, '--json']);
    const variant = (v) => bench.variants.find((x) => x.variant === v);
    const [original, single, fleet] = ['original', 'single', 'fleet'].map(variant);

    // the app layer as the registry holds it (skopeo compresses it again when pushing) and as slim wrote it
    const pushedApp = fleet.steps.find((s) => s.reference === changed.tag)?.layerBytes?.at(-1);
    const fleetUpdate = variant('fleet').updates[0]?.bytes ?? Infinity;
    const lines = [
      `## ${lang === 'node' ? 'Node' : 'Python'} fleet: ${bench.functions.length} functions on one team base`,
      '',
      `Every image verified: fleet ${builtV1.totals.verified}/${builtV1.totals.functions} (v1) and ${builtV2.totals.verified}/${builtV2.totals.functions} (v2); per-image ${Object.values(singles).filter((s) => s.verification.ok).length}/${Object.keys(singles).length}.`,
      `Shared layers (v1): ${builtV1.sharedLayers.map((l) => `${l.id} ${mb(l.compressedBytes)} for ${l.users.length}`).join(', ')}; after the v2 rebuild with the state: ${sameShared ? 'every digest unchanged' : 'DIGESTS CHANGED'} (${builtV1.sharedLayers.map((l) => short(l.digest)).join(', ')}).`,
      '',
      '| | pulled by the node, all in turn | functions 2..N pulled | Σ cold starts | Σ cold starts 2..N |',
      '|---|---:|---:|---:|---:|',
      ...bench.variants.map((v) => `| ${v.variant} | ${mb(v.totals.pulledBytes)} | ${mb(v.totals.laterPulledBytes)} | ${v.totals.coldStartSeconds.toFixed(2)} s | ${v.totals.laterColdStartSeconds.toFixed(2)} s |`),
      '',
      'Each function on a node that already ran the ones above it (bytes compressed, medians):',
      '',
      '| # | function | original: pulled, cold start | per-image slim: pulled, cold start | fleet: pulled, cold start | fleet warm first request | fleet cold / warm |',
      '|---:|---|---:|---:|---:|---:|---:|',
      ...fleet.steps.map((s, k) => `| ${k + 1} | ${s.name} | ${mb(original.steps[k].pulledBytes)}, ${secs(original.steps[k].coldStart)} | ${mb(single.steps[k].pulledBytes)}, ${secs(single.steps[k].coldStart)} | ${mb(s.pulledBytes)}, ${secs(s.coldStart)} | ${Math.round(s.firstRequestWarm.median)} ms | ${s.coldOverWarm?.toFixed(2)} |`),
      '',
      `A one-line code change to ${changed.image.replace(':v2', '')}: a node running the v1 fleet re-pulls ${bench.variants.map((v) => `${v.variant} ${mb(v.updates[0]?.bytes ?? 0)}`).join(', ')}; the fleet image's app layer is ${mb(pushedApp ?? appLayer.compressedBytes)} in the registry.`,
      `Delta layers: the fleet without ${lastImage} pinned ${before.sharedLayers.length} shared layers (${mb(before.totals.sharedBytes)}); when it joined, it ${joined.totals.deltaBytes ? `got ${joined.sharedLayers.filter((l) => l.delta).length} delta layer(s) holding ${mb(joined.totals.deltaBytes)}` : 'needed nothing new: no delta layer'}, stood on ${joiner.layers.filter((l) => l.shared).map((l) => l.id).join(' → ') || 'no shared layer'} and pulled ${mb(joiner.warmNodeBytes)} on a node running the others (a fresh plan of the same ${v1.functions.length} functions: the node pulls ${mb(builtV1.totals.nodeBytes)}, the pinned plan plus delta ${mb(joined.totals.nodeBytes)}).`,
      '',
    ];
    sections.push(lines.join('\n'));
    const laterOk = fleet.steps.slice(1).every((s, k) => s.pulledBytes <= 0.1 * single.steps[k + 1].imageBytes);
    const coldWarmOk = fleet.steps.slice(1).every((s) => s.coldOverWarm <= 2);
    targetRows.push(
      `| ${lang} | fleet / per-image bytes ≤ 0.35 | ${ratio(fleet.totals.pulledBytes, single.totals.pulledBytes)} |`,
      `| ${lang} | fleet / originals bytes ≤ 0.25 | ${ratio(fleet.totals.pulledBytes, original.totals.pulledBytes)} |`,
      `| ${lang} | functions 2..N pull ≤ 10% of their per-image slim image | ${laterOk ? 'yes' : 'no'}: ${fleet.steps.slice(1).map((s, k) => `${(100 * s.pulledBytes / single.steps[k + 1].imageBytes).toFixed(2)}%`).join(', ')} |`,
      `| ${lang} | functions 2..N cold start ≤ 2 × warm | ${coldWarmOk ? 'yes' : 'no'}: ${fleet.steps.slice(1).map((s) => s.coldOverWarm?.toFixed(2)).join(', ')} |`,
      `| ${lang} | code change re-pull ≤ the app layer | ${fleetUpdate <= (pushedApp ?? appLayer.compressedBytes) ? 'yes' : 'no'}: ${fleetUpdate} bytes; the app layer is ${pushedApp ?? '?'} bytes in the registry, ${appLayer.compressedBytes} as slim wrote it |`,
      `| ${lang} | shared digests unchanged by v2; every image verified | ${sameShared && builtV1.ok && builtV2.ok ? 'yes' : 'no'} |`,
    );
  }
} finally {
  for (const tag of tags) await $`docker rmi ${tag}`.nothrow();
  await fs.remove(work);
}

const cpu = (await $`nproc`).stdout.trim();
const doc = [
  '# Fleet benchmark',
  '',
  `Written by \`node benchmarks/fleet.mjs --rounds ${flags.rounds}${flags.bandwidth ? ` --bandwidth ${flags.bandwidth}` : ''}\` on ${new Date().toISOString().slice(0, 10)}, ${cpu} cores, registry ${flags.bandwidth ? `behind a ${flags.bandwidth} link` : 'on loopback'}; every figure is from that one run (medians of ${flags.rounds} rounds; byte counts are what the bench engine downloaded).`,
  'Each round starts from an empty node (a throwaway dockerd) and starts every function of the fleet in turn, keeping what earlier functions pulled; rounds alternate the order of the three variants.',
  '',
  '| fleet | target (issue 12) | measured |',
  '|---|---|---|',
  ...targetRows,
  '',
  ...sections,
].join('\n');
await fs.writeFile(out, `${doc}\n`);
log(`wrote ${out}`);
