#!/usr/bin/env node
// How fast `slim analyze` reads layers, and whether its memory stays flat as images grow.
//
//   node benchmarks/analyze-throughput.mjs [--runs N] [--out FILE]
//
// For each image (the Debian base, node-express, and node-express plus a 1 GiB file) it saves a
// docker-archive (plain tar layers) and an OCI layout (gzip layers, via skopeo), then times, as the
// median of N runs: `slim analyze` on each, and the raw baseline of listing the same layers with
// `tar -tf` / `tar -tzf`. Throughput is uncompressed layer bytes per second; memory is peak RSS.
// Writes a Markdown table to benchmarks/analyze-throughput.md (or --out).
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, REPO as repo } from './fixtures.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, out: { type: 'string' } } });
const runs = Number(values.runs);
const out = values.out ?? path.join(repo, 'benchmarks/analyze-throughput.md');
$.quiet = true;

const BIG = 'slim-bench/node-express-big:v1';
const images = ['slim-fixture-base:bookworm', 'slim-fixture/node-express:v1', BIG];

async function ensureBigImage() {
  if ((await $`docker image inspect ${BIG}`.nothrow()).exitCode === 0) return;
  const ctx = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-bench-big-'));
  try {
    // incompressible data, so gzip cannot make the layer small
    await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM slim-fixture/node-express:v1\nRUN head -c 1073741824 /dev/urandom > /opt/blob.bin\n');
    await $`docker build --network host -q -t ${BIG} ${ctx}`;
  } finally {
    await fs.rm(ctx, { recursive: true, force: true });
  }
}

/** Runs a command under GNU time; returns wall seconds and peak RSS in bytes. */
async function measure(command) {
  const result = await $`/usr/bin/time -f ${'%e %M'} bash -c ${command}`;
  const last = result.stderr.trim().split('\n').at(-1).split(' ');
  return { seconds: Number(last[0]), rss: Number(last[1]) * 1024 };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function medianOf(command) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await measure(command));
  return { seconds: median(samples.map((s) => s.seconds)), rss: Math.max(...samples.map((s) => s.rss)) };
}

const mb = (bytes) => (bytes / 1e6).toFixed(0);
const mbps = (bytes, seconds) => (bytes / 1e6 / Math.max(seconds, 0.01)).toFixed(0);

await $({ cwd: repo })`npm run --silent build`;
await ensureBigImage();
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-bench-'));
const rows = [];
try {
  for (const image of images) {
    const archive = path.join(work, 'image.tar');
    const layout = path.join(work, 'oci');
    await $`docker save -o ${archive} ${image}`;
    await $`skopeo copy --quiet docker-daemon:${image} oci:${layout}:bench`;
    const analysis = JSON.parse((await $`node ${cli} analyze docker-archive:${archive} --json`).stdout);
    const layerBytes = analysis.layers.reduce((s, l) => s + l.tarBytes, 0);
    const ociAnalysis = JSON.parse((await $`node ${cli} analyze oci:${layout}:bench --json`).stdout);
    const gzipBytes = ociAnalysis.storedBytes;

    // raw baselines: list every layer's entries and nothing else
    const extracted = path.join(work, 'layers');
    await fs.mkdirp(extracted);
    await $`tar -xf ${archive} -C ${extracted}`;
    const layerPaths = JSON.parse(await fs.readFile(path.join(extracted, 'manifest.json'), 'utf8'))[0].Layers;
    const plainList = layerPaths.map((p) => `cat ${path.join(extracted, p)} | tar -tf - >/dev/null`).join(' && ');
    const blobs = ociAnalysis.layers.map((l) => path.join(layout, 'blobs', ...l.digest.split(':')));
    const gzipList = blobs.map((b) => `cat ${b} | tar -tzf - >/dev/null`).join(' && ');

    const slimPlain = await medianOf(`node ${cli} analyze docker-archive:${archive} --json >/dev/null`);
    const rawPlain = await medianOf(plainList);
    const slimGzip = await medianOf(`node ${cli} analyze oci:${layout}:bench --json >/dev/null`);
    const rawGzip = await medianOf(gzipList);
    const slimDaemon = await medianOf(`node ${cli} analyze ${image} --json >/dev/null`);
    const dockerSave = await medianOf(`docker save ${image} >/dev/null`);
    rows.push({ image, layerBytes, gzipBytes, files: analysis.fileCount, slimPlain, rawPlain, slimGzip, rawGzip, slimDaemon, dockerSave });
    await fs.rm(archive, { force: true });
    await fs.rm(layout, { recursive: true, force: true });
    await fs.rm(extracted, { recursive: true, force: true });
    console.error(`[bench] ${image}: done`);
  }
} finally {
  await fs.rm(work, { recursive: true, force: true });
}

const lines = [
  '# slim analyze: throughput and memory',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), median of ${runs} runs; ` +
    'MB/s = uncompressed layer bytes / wall time. Peak RSS is the largest of the runs. Raw = `cat LAYER | tar -tf -` (plain) or `| tar -tzf -` (gzip) over every layer: a streaming read of all the bytes, as from the engine or a registry.',
  '',
  '| image | layer data | files | slim, plain tar | raw tar -tf | slim, gzip OCI | raw tar -tzf | slim from engine (incl. docker save) | docker save alone | slim peak RSS (plain / gzip / engine) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) =>
    `| ${r.image} | ${mb(r.layerBytes)} MB (${mb(r.gzipBytes)} MB gzip) | ${r.files} | ` +
      `${r.slimPlain.seconds.toFixed(2)} s, ${mbps(r.layerBytes, r.slimPlain.seconds)} MB/s | ${r.rawPlain.seconds.toFixed(2)} s, ${mbps(r.layerBytes, r.rawPlain.seconds)} MB/s | ` +
      `${r.slimGzip.seconds.toFixed(2)} s, ${mbps(r.layerBytes, r.slimGzip.seconds)} MB/s | ${r.rawGzip.seconds.toFixed(2)} s, ${mbps(r.layerBytes, r.rawGzip.seconds)} MB/s | ` +
      `${r.slimDaemon.seconds.toFixed(2)} s, ${mbps(r.layerBytes, r.slimDaemon.seconds)} MB/s | ${r.dockerSave.seconds.toFixed(2)} s | ` +
      `${mb(r.slimPlain.rss)} / ${mb(r.slimGzip.rss)} / ${mb(r.slimDaemon.rss)} MB |`,
  ),
  '',
];
await fs.writeFile(out, lines.join('\n'));
console.log(lines.join('\n'));
