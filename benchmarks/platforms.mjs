#!/usr/bin/env node
// The fixtures that follow another platform's contract than plain HTTP (their recording's "platform"),
// measured as results.mjs measures the others: sizes, floor, verification, v2 layer reuse and the
// cold-start bench. Writes the "platforms" section of benchmarks/RESULTS.md.
//
//   node benchmarks/platforms.mjs [--rounds N] [fixture ...]
import { parseArgs } from 'node:util';
import { $, fs, os, path } from 'zx';
import { prepareFixtures, REPO as repo } from './fixtures.mjs';
import { measureFixture, TABLE_HEADERS } from './fixture-rows.mjs';
import { writeSection } from './sections.mjs';

$.quiet = true;
const { values: flags, positionals: wanted } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '3' } } });
const platformOf = async (name) => JSON.parse(await fs.readFile(path.join(repo, 'fixtures', name, 'recording.json'), 'utf8')).platform ?? 'http';
const candidates = [];
for (const d of await fs.readdir(path.join(repo, 'fixtures'), { withFileTypes: true })) {
  if (!d.isDirectory() || !(await fs.pathExists(path.join(repo, 'fixtures', d.name, 'recording.json')))) continue;
  if (wanted.length ? wanted.includes(d.name) : (await platformOf(d.name)) !== 'http') candidates.push(d.name);
}
const fixtures = await prepareFixtures(repo, candidates);

const rows = [];
const benchRows = [];
for (const name of fixtures) {
  const measured = await measureFixture(repo, name, flags);
  const platform = await platformOf(name);
  rows.push(measured.row.replace(`| ${name} |`, `| ${name} (${platform}) |`));
  if (measured.benchRow) benchRows.push(measured.benchRow.replace(`| ${name} |`, `| ${name} (${platform}) |`));
  console.error(`[platforms] ${name} done`);
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  `## Other platforms' contracts (\`node benchmarks/platforms.mjs\`, median of ${flags.rounds}, registry on loopback)`,
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${cpu}). Columns as in the tables above. On Lambda`,
  "a request is an event sent through slim's Runtime API, and the first request is container create to the first event's result.",
  '',
  ...TABLE_HEADERS.sizes,
  ...rows,
  '',
  ...TABLE_HEADERS.bench,
  ...benchRows,
];
await writeSection(path.join(repo, 'benchmarks/RESULTS.md'), 'platforms', lines);
console.log(lines.join('\n'));
