#!/usr/bin/env node
// For each fixture, the slim image as gzip, zstd and eStargz, each benched on the docker and the
// containerd node against the original, plus what eStargz puts before its prefetch landmark and the
// warm first request measured over --warm-rounds alternating pairs. Writes the "compression" section of
// benchmarks/RESULTS.md.
//
//   node benchmarks/compression.mjs [--rounds N] [--warm-rounds N] [--bandwidth 200mbit] [fixture ...]
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, mb, prepareFixtures, REPO as repo } from './fixtures.mjs';
import { writeSection } from './sections.mjs';

const out = path.join(repo, 'benchmarks/RESULTS.md');
$.quiet = true;

const { values: flags, positionals: wanted } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, 'warm-rounds': { type: 'string', default: '10' }, bandwidth: { type: 'string', default: '200mbit' } },
});
// small fixtures first: a run cut short still has whole rows
const SIZE_ORDER = ['python-flask', 'node-express', 'web-monolith', 'media-transcode', 'ml-inference'];
const fixtures = (await prepareFixtures(repo, wanted)).sort((a, b) => SIZE_ORDER.indexOf(a) - SIZE_ORDER.indexOf(b));
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-compression-bench-'));

const secs = (s) => `${s.median.toFixed(2)} s`;
const ms = (s) => `${Math.round(s.median)} ms`;
const x = (a, b) => `${(a / b).toFixed(3)}×`;

async function slim(args) {
  const result = await $`node ${cli} ${args}`.nothrow();
  if (result.exitCode !== 0) throw new Error(`slim ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(result.stdout);
}

const bench = (images, recording, node, warmRounds, extra = []) =>
  slim(['bench', ...images, '--record', recording, '--node', node, '--rounds', flags.rounds, '--warm-rounds', String(warmRounds), ...extra, '--json']);

/** Per eStargz layer of an OCI layout: file bytes before the prefetch landmark and the blob offset of the landmark. */
async function prefetchedPart(layoutDir) {
  const index = await fs.readJson(path.join(layoutDir, 'index.json'));
  const blob = (digest) => path.join(layoutDir, 'blobs', ...digest.split(':'));
  const manifest = await fs.readJson(blob(index.manifests[0].digest));
  let fileBytes = 0;
  let blobBytes = 0;
  let files = 0;
  for (const layer of manifest.layers) {
    const data = await fs.readFile(blob(layer.digest));
    const footer = data.subarray(data.length - 51);
    const tocOffset = parseInt(footer.toString('latin1', 16, 32), 16);
    const tocTar = gunzipSync(data.subarray(tocOffset, data.length - 51));
    const size = parseInt(tocTar.toString('latin1', 124, 136).replace(/\0.*$/, '').trim(), 8);
    const toc = JSON.parse(tocTar.toString('utf8', 512, 512 + size));
    const landmark = toc.entries.findIndex((e) => e.name === '.prefetch.landmark');
    if (landmark < 0) continue;
    const before = toc.entries.slice(0, landmark).filter((e) => e.type === 'reg');
    files += before.length;
    fileBytes += before.reduce((sum, e) => sum + (e.size ?? 0), 0);
    blobBytes += toc.entries[landmark].offset;
  }
  return { files, fileBytes, blobBytes };
}

const tableRows = [];
const warmRows = [];
const prefetchRows = [];
const targetRows = [];
const lazyRows = [];
for (const name of fixtures) {
  const recording = path.join(repo, 'fixtures', name, 'recording.json');
  const original = `slim-fixture/${name}:v1`;
  const gzipTag = `slim-bench/${name}:gzip`;
  const zstd = `oci:${path.join(work, name, 'zstd')}:v1`;
  const estargz = `oci:${path.join(work, name, 'estargz')}:v1`;
  await fs.mkdirp(path.join(work, name));
  console.error(`[compression] ${name}: building gzip, zstd and eStargz`);
  const gz = await slim(['build', original, '--record', recording, '--tag', gzipTag, '--json']);
  const zs = await slim(['build', original, '--record', recording, '--compression', 'zstd', '--output', zstd, '--json']);
  const es = await slim(['build', original, '--record', recording, '--compression', 'estargz', '--output', estargz, '--json']);
  const verified = [gz, zs, es].every((b) => b.verification.ok);

  console.error(`[compression] ${name}: benching on docker`);
  const dockerPair = await bench([original, gzipTag], recording, 'docker', flags['warm-rounds']);
  const dockerEstargz = (await bench([estargz], recording, 'docker', 1)).images.original;
  console.error(`[compression] ${name}: benching on containerd`);
  const ctrPair = await bench([original, gzipTag], recording, 'containerd', flags['warm-rounds']);
  const ctrZstd = (await bench([zstd], recording, 'containerd', 1)).images.original;
  const ctrEstargz = (await bench([estargz], recording, 'containerd', 1)).images.original;
  console.error(`[compression] ${name}: lazy pulls on the stargz node, and at ${flags.bandwidth}`);
  const lazy = (await bench([estargz], recording, 'stargz', 1)).images.original;
  const shaped = ['--bandwidth', flags.bandwidth];
  const lazyShaped = (await bench([estargz], recording, 'stargz', 1, shaped)).images.original;
  const zstdShaped = (await bench([zstd], recording, 'containerd', 1, shaped)).images.original;

  const row = (label, bytes, docker, containerd) =>
    `| ${name} | ${label} | ${mb(bytes)} | ${docker ? `${secs(docker.pull)} / ${secs(docker.coldStart)}` : 'cannot pull'} | ${secs(containerd.pull)} / ${secs(containerd.coldStart)} |`;
  tableRows.push(
    row('original, gzip', dockerPair.images.original.compressedBytes, dockerPair.images.original, ctrPair.images.original),
    row('slim, gzip', gz.slim.compressedBytes, dockerPair.images.slim, ctrPair.images.slim),
    row('slim, zstd', zs.slim.compressedBytes, null, ctrZstd),
    row('slim, eStargz', es.slim.compressedBytes, dockerEstargz, ctrEstargz),
  );
  lazyRows.push(
    `| ${name} | ${secs(lazy.pull)} / ${secs(lazy.coldStart)} | ${secs(ctrZstd.coldStart)} | ${x(lazy.coldStart.median, ctrZstd.coldStart.median)} | ` +
      `${secs(lazyShaped.pull)} / ${secs(lazyShaped.coldStart)} | ${secs(zstdShaped.coldStart)} | ${x(lazyShaped.coldStart.median, zstdShaped.coldStart.median)} | ${mb(lazy.pulledBytes)} |`,
  );
  for (const [node, pair] of [['docker', dockerPair], ['containerd', ctrPair]]) {
    const o = pair.images.original.firstRequestWarm;
    const s = pair.images.slim.firstRequestWarm;
    warmRows.push(
      `| ${name} | ${node} | ${ms(o)} (${Math.round(o.min)}–${Math.round(o.max)}) | ${ms(s)} (${Math.round(s.min)}–${Math.round(s.max)}) | ${pair.ratios.firstRequestWarm.toFixed(3)}× |`,
    );
  }
  const part = await prefetchedPart(estargz.slice(4, estargz.lastIndexOf(':')));
  prefetchRows.push(
    `| ${name} | ${part.files} | ${mb(part.fileBytes)} | ${mb(part.blobBytes)} of ${mb(es.slim.compressedBytes)} | ${mb(es.tracedFloorBytes)} | ${part.fileBytes <= es.tracedFloorBytes ? 'yes' : 'NO'} |`,
  );
  const ctrOriginal = ctrPair.images.original;
  const ctrGzip = ctrPair.images.slim;
  targetRows.push(
    `| ${name} | ${x(ctrZstd.pull.median, ctrGzip.pull.median)} | ${x(ctrZstd.coldStart.median, ctrOriginal.coldStart.median)} | ${x(ctrEstargz.coldStart.median, ctrZstd.coldStart.median)} | ${dockerPair.ratios.firstRequestWarm.toFixed(3)}× / ${ctrPair.ratios.firstRequestWarm.toFixed(3)}× | ${verified ? 'yes' : 'NO'} |`,
  );
  await $`docker rmi ${gzipTag}`.nothrow();
  await fs.rm(path.join(work, name), { recursive: true, force: true });
  console.error(`[compression] ${name} done`);
  await writeSection(out, 'compression', section());
}
await fs.rm(work, { recursive: true, force: true });

function section() {
  return [
    `## Compression and node (\`node benchmarks/compression.mjs\`, median of ${flags.rounds}, registry on loopback)`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}). Each image is pulled cold into a node holding none of`,
    'its layers: a throwaway dockerd (20.10) or a throwaway containerd (1.6, pulling with `ctr`, running with runc). Cells are',
    'cold pull / cold start (pull + container create to the first answer). The original is pushed as gzip by skopeo; the slim',
    'images are written by `slim build --compression`, every one verified. dockerd 20.10 cannot pull zstd. Each line is its own',
    '`slim bench` run with a fresh node; the original and slim gzip lines come from one run per node.',
    '',
    '| fixture | image | in the registry | docker node | containerd node |',
    '|---|---|---:|---:|---:|',
    ...tableRows,
    '',
    '### Against the targets',
    '',
    'Containerd node: slim zstd pull / slim gzip pull (target ≤ 0.6), slim zstd cold start / original gzip cold start (target ≤ 0.18),',
    'slim eStargz / slim zstd cold start (both fully pulled into overlayfs: ctr unpacks eStargz as plain gzip); warm first request',
    `slim / original, median of ${flags['warm-rounds']} alternating pairs (target ≤ 1.00), docker / containerd.`,
    '',
    '| fixture | zstd / gzip pull | zstd / original cold start | eStargz / zstd cold start | warm slim / original | verified |',
    '|---|---:|---:|---:|---:|---|',
    ...targetRows,
    '',
    '### Lazy pull: eStargz on the stargz node against zstd on overlayfs',
    '',
    'The stargz node is the containerd node with slim\'s stargz snapshotter daemon: `ctr-remote images rpull` mounts each eStargz layer',
    'over FUSE, prefetches what lies before the landmark and fetches the rest as it is read (and in the background); its daemon restarts',
    `empty for every cold round. Targets: at ${flags.bandwidth}, eStargz lazily below zstd on overlayfs; on loopback at most 1.1×. The last column`,
    'is what `rpull` put in the content store: 0 when every layer was mounted lazily (the prefetch and the rest arrive through FUSE).',
    '',
    `| fixture | stargz node, loopback: pull / cold start | zstd, containerd: cold start | lazy / zstd | stargz node, ${flags.bandwidth}: pull / cold start | zstd, ${flags.bandwidth}: cold start | lazy / zstd | layer bytes the rpull downloaded |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...lazyRows,
    '',
    `### Warm first request (median and range of ${flags['warm-rounds']} per image, pairs alternating which image starts first)`,
    '',
    '| fixture | node | original | slim | slim / original |',
    '|---|---|---:|---:|---:|',
    ...warmRows,
    '',
    '### eStargz: before the prefetch landmark',
    '',
    'What a lazy puller prefetches: the regular files before `.prefetch.landmark` in every layer (the files the recorded run read,',
    'in first-access order), their bytes, how far into the blobs the landmark sits, and the traced floor (bytes of every file the run',
    'opened, executed, mapped or looked at).',
    '',
    '| fixture | files | file bytes | compressed bytes before the landmark | traced floor | ≤ floor |',
    '|---|---:|---:|---:|---:|---|',
    ...prefetchRows,
  ];
}
console.log(section().join('\n'));
