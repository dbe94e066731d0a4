#!/usr/bin/env node
// One row per fixture for benchmarks/RESULTS.md: the original's size, what a traced run of its
// recording uses (the floor), the slim image slim builds, and whether a code-only change (v2) reuses
// the slim image's system and dependency layers.
//
//   node benchmarks/results.mjs [--rounds N] [--bandwidth RATE] [--merge] [fixture ...]
//
// --merge keeps the rows of the fixtures not measured this time (they say when they were measured).
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { prepareFixtures, REPO as repo } from './fixtures.mjs';
import { measureFixture, TABLE_HEADERS } from './fixture-rows.mjs';
import { keptSections } from './sections.mjs';

const out = path.join(repo, 'benchmarks/RESULTS.md');
$.quiet = true;

const { values: flags, positionals: wanted } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '5' }, bandwidth: { type: 'string' }, merge: { type: 'boolean' } },
});
const fixtures = await prepareFixtures(repo, wanted);

const rows = [];
const layerRows = [];
const surfaceRows = [];
const benchRows = [];
for (const name of fixtures) {
  const measured = await measureFixture(repo, name, flags);
  rows.push(measured.row);
  layerRows.push(...measured.layerRows);
  surfaceRows.push(measured.surfaceRow);
  if (measured.benchRow) benchRows.push(measured.benchRow);
  console.error(`[results] ${name} done`);
}

const today = new Date().toISOString().slice(0, 10);
const previous = flags.merge && (await fs.pathExists(out)) ? await fs.readFile(out, 'utf8') : '';
const keyOf = (row) => row.split('|')[1].trim();
/** The table's rows of earlier runs for fixtures not measured now, and this run's, by fixture (a fixture's rows keep their order). */
const merged = (header, now) => {
  const lines = previous.split('\n');
  const start = lines.indexOf(header);
  const earlier = [];
  for (let i = start + 2; start !== -1 && i < lines.length && lines[i].startsWith('|'); i++) if (!fixtures.includes(keyOf(lines[i]))) earlier.push(lines[i]);
  return [...earlier, ...now].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
};
const measuredLine = `Measured ${today} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}) with \`node benchmarks/results.mjs\`.`;
const earlierLine = previous.split('\n').find((l) => l.startsWith('Measured '));
const SURFACE_HEADER = '| fixture | original | slim |';
const LAYER_HEADER = '| fixture | layer | files | size | v1 digest | v2 digest | reused |';

const text = [
  '# Results',
  '',
  flags.merge && earlierLine ? `${earlierLine.replace(/\.$/, '')}; ${fixtures.join(', ')} measured ${today} (\`--merge\`).` : measuredLine,
  '',
  '- **original**: regular-file bytes visible in the image; **compressed**: its layers gzip -6 (the size a registry would hold).',
  '- **traced floor**: bytes of the files the recorded run itself opened, executed, mapped or looked at: the floor of any file-level slim image.',
  '- **slim**: the file bytes of the image `slim build` writes (traced files plus the static closure); **slim / floor** is their ratio.',
  '- **verified**: the recording replayed against original and slim gave identical answers (requests compared).',
  '- **v2 reuse**: building v2 (a one-line code change) after v1: which slim layers kept their digests, and what is new.',
  '- **slim time**: wall time of `slim build` (docker save, reading, tracing, writing, loading, verifying), and peak memory.',
  '',
  ...TABLE_HEADERS.sizes,
  ...(flags.merge ? merged(TABLE_HEADERS.sizes[0], rows) : rows),
  '',
  `## Cold start (\`slim bench\`, median of ${flags.rounds}, ${flags.bandwidth ? `registry behind a ${flags.bandwidth} link` : 'registry on loopback'})`,
  '',
  'Original / slim, each image pulled cold into an engine holding none of its layers; first request = container create to the first',
  'successful answer of the recording\'s first request; cold start = pull + first request; update = bytes pulled for v2 when v1 is present.',
  '',
  ...TABLE_HEADERS.bench,
  ...(flags.merge ? merged(TABLE_HEADERS.bench[0], benchRows) : benchRows),
  '',
  '## Attack surface',
  '',
  'Shells / package managers / setuid and setgid binaries / executables, original and slim (see the README\'s "Attack surface").',
  '',
  SURFACE_HEADER,
  '|---|---:|---:|',
  ...(flags.merge ? merged(SURFACE_HEADER, surfaceRows) : surfaceRows),
  '',
  '## Slim layers, v1 and v2',
  '',
  LAYER_HEADER,
  '|---|---|---:|---:|---|---|---|',
  ...(flags.merge ? merged(LAYER_HEADER, layerRows) : layerRows),
  '',
];
// sections other benchmarks own (the compression tables) stay
const kept = await keptSections(out);
await fs.writeFile(out, kept ? `${text.join('\n')}\n${kept}` : text.join('\n'));
console.log(text.join('\n'));
