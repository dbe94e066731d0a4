// The fixtures a benchmark measures: every fixture directory with a recording (or those named), with
// slim compiled and their images built (cached by content hash, so this is quick when nothing changed).
import { $, fs, path } from 'zx';

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
