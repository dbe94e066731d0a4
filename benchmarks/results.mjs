#!/usr/bin/env node
// One row per fixture for benchmarks/RESULTS.md: the image's size, what a traced run of its recording
// uses (the floor a slim image is measured against), and what slim's analysis costs.
//
//   node benchmarks/results.mjs [fixture ...]
import { fileURLToPath } from 'node:url';
import { $, fs, os, path } from 'zx';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repo, 'dist/src/cli.js');
const out = path.join(repo, 'benchmarks/RESULTS.md');
$.quiet = true;

const wanted = process.argv.slice(2);
const fixtures = (await fs.readdir(path.join(repo, 'fixtures'), { withFileTypes: true }))
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(repo, 'fixtures', d.name, 'recording.json')))
  .map((d) => d.name)
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();

await $({ cwd: repo })`npm run --silent build`;
await $({ cwd: repo })`node fixtures/build.mjs ${fixtures}`;

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const rows = [];
for (const name of fixtures) {
  const image = `slim-fixture/${name}:v1`;
  const recording = path.join(repo, 'fixtures', name, 'recording.json');
  const timed = await $`/usr/bin/time -f ${'%e %M'} node ${cli} analyze ${image} --record ${recording} --json`;
  const [seconds, rssKb] = timed.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  const a = JSON.parse(timed.stdout);
  const t = a.trace;
  rows.push(
    `| ${name} | ${mb(a.visibleBytes)} (${a.fileCount} files) | ${mb(t.tracedBytes)} (${t.tracedFiles} files) | ${mb(t.keptBytes)} (${t.keptFiles} files) | ` +
      `${((t.keptBytes / a.visibleBytes) * 100).toFixed(1)}% | ${t.timeline.readyMs} ms | ${seconds.toFixed(1)} s, ${(rssKb / 1024).toFixed(0)} MB |`,
  );
  console.error(`[results] ${name} done`);
}

const text = [
  '# Results',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}) with \`node benchmarks/results.mjs\`.`,
  '',
  '- **original**: regular-file bytes visible in the image (after whiteouts).',
  '- **traced floor**: bytes of the files the recorded run itself opened, executed, mapped or looked at: the floor of any file-level slim image.',
  '- **kept**: the traced files plus what static analysis adds (ELF libraries, node module graph, shebangs, system files): the estimated slim image content.',
  '- **ready under tracer**: container start to the first answer of the readiness check, with strace attached (slower than a real cold start).',
  '- **analyze + trace**: wall time and peak memory of `slim analyze IMAGE --record FILE` (docker save, layer reading, tracing, closure).',
  '',
  '| fixture | original | traced floor | kept (estimated slim) | kept / original | ready under tracer | analyze + trace |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
];
await fs.writeFile(out, text.join('\n'));
console.log(text.join('\n'));
