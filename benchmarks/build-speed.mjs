#!/usr/bin/env node
// slim's own speed, for benchmarks/BUILD-SPEED.md: each fixture's `slim build` of v1 with an empty cache and of
// v2 after it (wall time, peak RSS and the report's phases), next to the engine's floor for the same image,
// taken in the same run: `docker save` of the original, one untraced run of the recording, and `docker load`
// of the slim image's archive. With --big, also a synthetic image with a 5 GiB generated layer (built once,
// kept by tag) to show that memory stays flat.
//
//   node benchmarks/build-speed.mjs [--big] [FIXTURE...]
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { CLI as cli, mb, prepareFixtures, REPO as repo } from './fixtures.mjs';

$.quiet = true;
const { values: flags, positionals } = parseArgs({ options: { big: { type: 'boolean', default: false } }, allowPositionals: true });
const fixtures = await prepareFixtures(repo, positionals);
const BIG = 'slim-bench/big-layer:v1';
const BIG_BYTES = 5 * 1024 ** 3;
const s = (seconds) => `${seconds.toFixed(1)} s`;

/** Wall seconds and peak RSS (MB) of a command under GNU time, and its stdout. */
async function timed(command) {
  const result = await $`/usr/bin/time -f ${'%e %M'} ${command}`;
  const [seconds, rssKb] = result.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { stdout: result.stdout, seconds, rssMb: rssKb / 1024 };
}

/**
 * A function image that carries a 5 GiB file it never reads (incompressible, so no layer shrinks): the
 * node-express fixture with one more layer. Built once and kept by its tag.
 */
async function ensureBigImage() {
  if ((await $`docker image inspect ${BIG}`.nothrow()).exitCode === 0) return;
  console.error(`[build-speed] building ${BIG} (a ${BIG_BYTES / 1024 ** 3} GiB layer; a few minutes, once)`);
  const context = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-bench-big-'));
  try {
    await fs.writeFile(path.join(context, 'Dockerfile'), `FROM slim-fixture/node-express:v1\nRUN head -c ${BIG_BYTES} /dev/urandom > /opt/unused.bin\n`);
    await $`docker build --network host -q -t ${BIG} ${context}`;
  } finally {
    await fs.rm(context, { recursive: true, force: true });
  }
}

/** The engine's own floor for one image: save the original, run its recording once untraced, load the slim image. */
async function floor(original, slimTag, recording, scratch) {
  const saved = path.join(scratch, 'original.tar');
  const save = await timed(['docker', 'save', '-o', saved, original]);
  await fs.rm(saved, { force: true });
  const run = JSON.parse((await $`node ${path.join(repo, 'benchmarks/untraced-run.mjs')} ${original} ${recording}`).stdout).ms / 1000;
  const slimArchive = path.join(scratch, 'slim.tar');
  await $`docker save -o ${slimArchive} ${slimTag}`;
  await $`docker rmi ${slimTag}`;
  const load = await timed(['docker', 'load', '-q', '-i', slimArchive]);
  await fs.rm(slimArchive, { force: true });
  return { save: save.seconds, run, load: load.seconds };
}

/**
 * Two builds on a cache of their own, as a pull request's CI step meets them: the first with the cache
 * empty (a new runner), the second of v2, a one-line change, with the cache v1 left (the runner's next
 * build). Then the floor, on v1.
 */
async function measure(name, original, next, recording) {
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-bench-speed-'));
  const env = { ...process.env, SLIM_CACHE_DIR: path.join(scratch, 'cache') };
  const repo = `slim-bench/build-speed-${name.replace(/[^a-z0-9-]+/g, '-').replace(/-+$/, '')}`;
  const tags = [`${repo}:v1-slim`, `${repo}:v2-slim`];
  try {
    const builds = [];
    for (const [i, image] of [original, next].entries()) {
      console.error(`[build-speed] ${name}: slim build ${image} (${i === 0 ? 'empty cache' : 'after v1'})`);
      const build = await timed(['env', `SLIM_CACHE_DIR=${env.SLIM_CACHE_DIR}`, 'node', cli, 'build', image, '--record', recording, '--tag', tags[i], '--json']);
      builds.push({ ...build, report: JSON.parse(build.stdout) });
    }
    console.error(`[build-speed] ${name}: floor (docker save, untraced run, docker load)`);
    const f = await floor(original, tags[0], recording, scratch);
    return { name, cold: builds[0], warm: builds[1], floor: f, floorSeconds: f.save + f.run + f.load };
  } finally {
    for (const tag of tags) await $`docker rmi ${tag}`.nothrow();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

const rows = [];
for (const name of fixtures) {
  const v2 = `slim-fixture/${name}:v2`;
  const next = (await $`docker image inspect ${v2}`.nothrow()).exitCode === 0 ? v2 : `slim-fixture/${name}:v1`;
  rows.push(await measure(name, `slim-fixture/${name}:v1`, next, path.join(repo, 'fixtures', name, 'recording.json')));
}
if (flags.big) {
  await ensureBigImage();
  rows.push(await measure('big-layer (5 GiB unused)', BIG, BIG, path.join(repo, 'fixtures/node-express/recording.json')));
}

const phaseNames = [...new Set(rows.flatMap((r) => r.cold.report.timings.phases.map((p) => p.phase)))];
const phase = (build, name) => {
  const p = build.report.timings.phases.find((x) => x.phase === name);
  return p ? s(p.ms / 1000) : '';
};
const ratio = (build, r) => build.seconds / r.floorSeconds;
const worstCold = Math.max(...rows.map((r) => ratio(r.cold, r)));
const worstWarm = Math.max(...rows.map((r) => ratio(r.warm, r)));
const rss = Math.max(...rows.flatMap((r) => [r.cold.rssMb, r.warm.rssMb]));
const lines = [
  '# slim build speed',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, with`,
  `\`node benchmarks/build-speed.mjs${flags.big ? ' --big' : ''}${positionals.length ? ` ${positionals.join(' ')}` : ''}\`. Each fixture is built twice with \`slim build --json\` (verified), on a`,
  'cache of its own: v1 with the cache empty (a new CI runner), then v2, a one-line change, with what v1 left in',
  'the cache (the same runner\'s next pull request). The floor is the engine\'s own work for the same image, measured',
  'right after in the same run: `docker save` of the original, one untraced run of the recording (start, ready,',
  'every request, remove), and `docker load` of the slim image\'s archive. The target is build ≤ 3 × floor.',
  '',
  `**Worst build / floor: ${worstCold.toFixed(2)}× with an empty cache, ${worstWarm.toFixed(2)}× for the next build. Peak RSS at most ${rss.toFixed(0)} MB.**`,
  '',
  '| image | original | build, empty cache | build v2 after v1 | peak RSS | docker save | untraced run | docker load | floor | build / floor: empty cache, after v1 |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${mb(r.cold.report.original.visibleBytes)} | ${s(r.cold.seconds)} | ${s(r.warm.seconds)} | ${Math.max(r.cold.rssMb, r.warm.rssMb).toFixed(0)} MB | ${s(r.floor.save)} | ${s(r.floor.run)} | ${s(r.floor.load)} | ${s(r.floorSeconds)} | ${ratio(r.cold, r).toFixed(2)}×, ${ratio(r.warm, r).toFixed(2)}× |`,
  ),
  '',
  'Where the time went (the report\'s `timings`; phases that run at the same time overlap), empty cache / after v1:',
  '',
  `| image | ${phaseNames.join(' | ')} | total |`,
  `|---|${phaseNames.map(() => '---:').join('|')}|---:|`,
  ...rows.map((r) => `| ${r.name} | ${phaseNames.map((n) => `${phase(r.cold, n)} / ${phase(r.warm, n)}`).join(' | ')} | ${s(r.cold.report.timings.totalMs / 1000)} / ${s(r.warm.report.timings.totalMs / 1000)} |`),
  '',
];
await fs.writeFile(path.join(repo, 'benchmarks/BUILD-SPEED.md'), lines.join('\n'));
console.log(lines.join('\n'));
