import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, engineOrSkip, imageId, listDir, NODE_EXPRESS, REPO, requireFixture, run, tempDir } from './support.js';

async function snapshot(): Promise<{ netns: string; dockerds: number; registries: number; containers: string }> {
  const netns = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith('slim-bench')).join(',');
  const count = async (name: string) => (await run('pgrep', ['-c', '-x', name]).catch(() => ({ stdout: '0' }))).stdout.trim();
  const containers = (await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary'])).stdout.trim();
  return { netns, dockerds: Number(await count('dockerd')), registries: Number(await count('docker-registry')), containers };
}

describe('slim bench interrupted', () => {
  test('Ctrl-C during a shaped-link bench removes the namespace, registry, engine and containers', async (t) => {
    if (!(await engineOrSkip(t))) return;
    const originalId = await requireFixture(NODE_EXPRESS);
    const before = await snapshot();
    const child = spawn(process.execPath, [CLI, 'bench', NODE_EXPRESS, '--record', join(REPO, 'fixtures/node-express/recording.json'), '--rounds', '3', '--bandwidth', '100mbit'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // wait until the bench has its registry running behind the shaped link and its own engine
    const deadline = Date.now() + 120_000;
    for (;;) {
      const now = await snapshot();
      if (now.netns && now.registries > before.registries && now.dockerds > before.dockerds) break;
      assert.ok(Date.now() < deadline, `the bench never set up its link, registry and engine: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.deepEqual(await snapshot(), before);
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('SIGTERM while a round pulls on loopback removes the registry, engine, containers and temp files', async (t) => {
    if (!(await engineOrSkip(t))) return;
    const originalId = await requireFixture(NODE_EXPRESS);
    const before = await snapshot();
    const slimTmp = await tempDir('bench-sigterm');
    try {
      const child = spawn(process.execPath, [CLI, '--verbose', 'bench', NODE_EXPRESS, '--record', join(REPO, 'fixtures/node-express/recording.json'), '--rounds', '2'], {
        env: { ...process.env, SLIM_TMPDIR: slimTmp.path },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 180_000;
      while (!/round 1\//.test(stderr)) {
        assert.ok(Date.now() < deadline, `the bench never started a round: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGTERM');
      assert.equal(await exited, 130, stderr);
      assert.match(stderr, /SIGTERM: cleaning up/);
      assert.deepEqual(await snapshot(), before);
      assert.deepEqual(await listDir(slimTmp.path), []);
      assert.equal(await imageId(NODE_EXPRESS), originalId);
    } finally {
      await slimTmp.remove();
    }
  });
});
