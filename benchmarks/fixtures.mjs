// The fixtures a benchmark measures: every fixture directory with a recording (or those named), with
// slim compiled and their images built (cached by content hash, so this is quick when nothing changed).
import { fileURLToPath } from 'node:url';
import { $, fs, path } from 'zx';

/** The repository and its compiled CLI, for every benchmark. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(REPO, 'dist/src/cli.js');

/** Bytes as the benchmark tables print them: MB with one decimal, kB below a megabyte. */
export const mb = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);

export async function prepareFixtures(repo, wanted) {
  const fixtures = (await fs.readdir(path.join(repo, 'fixtures'), { withFileTypes: true }))
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(repo, 'fixtures', d.name, 'recording.json')))
    .map((d) => d.name)
    .filter((name) => wanted.length === 0 || wanted.includes(name))
    .sort();
  await $({ cwd: repo })`npm run --silent build`;
  await $({ cwd: repo })`node fixtures/build.mjs ${fixtures}`;
  return fixtures;
}
