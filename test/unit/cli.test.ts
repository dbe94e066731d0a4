import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { dockerArchive, tempDir, writeArchiveTar } from '../helpers/images.js';
import { buildTar, file } from '../helpers/layers.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** Runs the built CLI; resolves with its exit code and output whatever the code. */
function slim(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { SLIM_DEBUG: _ignored, ...base } = process.env;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { ...base, ...env }, encoding: 'utf8', timeout: 20_000 }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr });
    });
  });
}

function assertOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trimEnd().split('\n');
  assert.ok(lines[0]!.startsWith('slim: '), `stderr starts with "slim: ": ${stderr}`);
  assert.match(lines[0]!, pattern);
  assert.ok(!stderr.includes('    at '), `no stack trace: ${stderr}`);
  assert.ok(lines.length <= 2, `one line and at most a hint: ${stderr}`);
}

let tmp: { path: string; remove(): Promise<void> };
let archive: string;

before(async () => {
  tmp = await tempDir();
  archive = await writeArchiveTar(
    join(tmp.path, 'app.tar'),
    dockerArchive([{ layers: [await buildTar([file('bin/tool', 4000)]), await buildTar([file('bin/tool', 100), file('srv/data', 50)])], repoTags: ['app:1'] }]),
  );
});
after(async () => {
  await tmp.remove();
});

// each case spawns a process: run them side by side
describe('slim CLI', { concurrency: true }, () => {
  test('a file that does not exist: exit 3, one line, no stack trace', async () => {
    const missing = join(tmp.path, 'missing.tar');
    const r = await slim(['analyze', missing]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
    assertOneLineError(r.stderr, /does not exist/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  });

  test('an unknown option: exit 2', async () => {
    const r = await slim(['analyze', '--no-such-option', archive]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--no-such-option'/);
    assert.ok(!r.stderr.includes('    at '));
  });

  test('an invalid option value: exit 2', async () => {
    const r = await slim(['analyze', '--top', '0', archive]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /must be a positive whole number/);
  });

  test('an unreachable Docker engine: exit 4 naming it', async () => {
    const r = await slim(['analyze', 'example.invalid/never-pulled:1'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    assert.equal(r.code, 4);
    assertOneLineError(r.stderr, /Docker engine unreachable at unix:\/\/\/nonexistent\/docker\.sock/);
  });

  test('a tar that is not an image: exit 3', async () => {
    const path = join(tmp.path, 'plain.tar');
    await writeFile(path, await buildTar([file('README', 10)]));
    const r = await slim(['analyze', path]);
    assert.equal(r.code, 3);
    assertOneLineError(r.stderr, /is not an image/);
  });

  test('analyze --json prints the analysis', async () => {
    const r = await slim(['analyze', '--json', archive]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { layers: unknown[]; totalBytes: number; wastedBytes: number; efficiency: number; largest: { files: Array<{ path: string }> } };
    assert.equal(json.layers.length, 2);
    assert.equal(json.totalBytes, 4150);
    assert.equal(json.wastedBytes, 4100);
    assert.equal(json.efficiency, 150 / 4150);
    assert.deepEqual(
      json.largest.files.map((f) => f.path),
      ['/bin/tool', '/srv/data'],
    );
  });
});
