import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, engineOrSkip, imageId, listDir, NODE_EXPRESS, REPO, requireFixture, run, slim, tempDir } from './support.js';

async function snapshot(): Promise<{ netns: string; dockerds: number; registries: number; containers: string }> {
  const netns = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith('slim-bench')).join(',');
  const count = async (name: string) => (await run('pgrep', ['-c', '-x', name]).catch(() => ({ stdout: '0' }))).stdout.trim();
  const containers = (await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary'])).stdout.trim();
  return { netns, dockerds: Number(await count('dockerd')), registries: Number(await count('docker-registry')), containers };
}

/** slim as a child process, its stderr collected, for a signal sent mid-run. */
function startSlim(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

describe('slim bench interrupted', () => {
  test('Ctrl-C during a shaped-link bench removes the namespace, registry, engine and containers', async (t) => {
    if (!(await engineOrSkip(t))) return;
    const originalId = await requireFixture(NODE_EXPRESS);
    const before = await snapshot();
    const { child, exited, stderr } = startSlim(['bench', NODE_EXPRESS, '--record', join(REPO, 'fixtures/node-express/recording.json'), '--rounds', '3', '--bandwidth', '100mbit']);
    // wait until the bench has its registry running behind the shaped link and its own engine
    const deadline = Date.now() + 120_000;
    for (;;) {
      const now = await snapshot();
      if (now.netns && now.registries > before.registries && now.dockerds > before.dockerds) break;
      assert.ok(Date.now() < deadline, `the bench never set up its link, registry and engine: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGINT');
    assert.equal((await exited).code, 130, stderr());
    assert.deepEqual(await snapshot(), before);
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('SIGTERM while a round pulls on loopback removes the registry, engine, containers and temp files', async (t) => {
    if (!(await engineOrSkip(t))) return;
    const originalId = await requireFixture(NODE_EXPRESS);
    const before = await snapshot();
    const slimTmp = await tempDir('bench-sigterm');
    try {
      const { child, exited, stderr } = startSlim(['--verbose', 'bench', NODE_EXPRESS, '--record', join(REPO, 'fixtures/node-express/recording.json'), '--rounds', '2'], { ...process.env, SLIM_TMPDIR: slimTmp.path });
      const deadline = Date.now() + 180_000;
      while (!/round 1\//.test(stderr())) {
        assert.ok(Date.now() < deadline, `the bench never started a round: ${stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGTERM');
      assert.equal((await exited).code, 130, stderr());
      assert.match(stderr(), /SIGTERM: cleaning up/);
      assert.deepEqual(await snapshot(), before);
      assert.deepEqual(await listDir(slimTmp.path), []);
      assert.equal(await imageId(NODE_EXPRESS), originalId);
    } finally {
      await slimTmp.remove();
    }
  });

  // the stargz node runs slim's eStargz image of node-express: its layers are FUSE mounts of the daemon's
  for (const node of ['containerd', 'stargz'] as const) {
    test(`Ctrl-C while the ${node} node runs a function removes the containerd${node === 'stargz' ? ', the snapshotter and its FUSE mounts' : ''}, its tasks, mounts and state`, async (t) => {
      if (!(await engineOrSkip(t))) return;
      const originalId = await requireFixture(NODE_EXPRESS);
      const before = await snapshot();
      const daemons = async () =>
        (await run('pgrep', ['-af', 'slim-bench-containerd|slim-stargz-snapshotter']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
      const slimTmp = await tempDir(`bench-${node}-sigint`);
      const work = await tempDir(`bench-${node}-image`);
      try {
        let image = NODE_EXPRESS;
        if (node === 'stargz') {
          const built = await slim(['build', NODE_EXPRESS, '--record', join(REPO, 'fixtures/node-express/recording.json'), '--compression', 'estargz', '--no-verify', '--output', `oci:${work.path}/oci:v1`]);
          assert.equal(built.code, 0, built.stderr);
          image = `oci:${work.path}/oci:v1`;
        }
        const { child, exited, stderr } = startSlim(['--verbose', 'bench', image, '--record', join(REPO, 'fixtures/node-express/recording.json'), '--rounds', '2', '--node', node], { ...process.env, SLIM_TMPDIR: slimTmp.path });
        const deadline = Date.now() + 180_000;
        // a task of the node's own runs once the first cold start began
        const tasks = async () => {
          const dir = (await listDir(slimTmp.path)).find((d) => d.startsWith('slim-bench-containerd-'));
          if (!dir) return 0;
          const listed = await run('ctr', ['-a', join(slimTmp.path, dir, 'c.sock'), '-n', 'slim-bench', 'tasks', 'ls', '-q']).catch(() => ({ stdout: '' }));
          return listed.stdout.split('\n').filter(Boolean).length;
        };
        const mounts = async () => (await run('cat', ['/proc/mounts'])).stdout.split('\n').filter((l) => l.includes(slimTmp.path));
        while ((await tasks()) === 0) {
          assert.ok(Date.now() < deadline, `the ${node} node never ran a function: ${stderr()}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        if (node === 'stargz') assert.ok((await mounts()).some((l) => /\bfuse/.test(l)), 'the layers are FUSE mounts while the function runs');
        child.kill('SIGINT');
        assert.equal((await exited).code, 130, stderr());
        assert.deepEqual(await daemons(), [], 'no containerd or snapshotter of the bench is left');
        assert.deepEqual(await mounts(), [], 'nothing is mounted under its directory');
        assert.deepEqual(await listDir(slimTmp.path), [], 'its root, state and socket are gone');
        assert.deepEqual(await snapshot(), before);
        assert.equal(await imageId(NODE_EXPRESS), originalId);
      } finally {
        await slimTmp.remove();
        await work.remove();
      }
    });
  }

  test('after a SIGKILLed bench, the next bench stops its engine and registry, removes its namespaces and link, and works', async (t) => {
    if (!(await engineOrSkip(t))) return;
    const originalId = await requireFixture(NODE_EXPRESS);
    const recording = join(REPO, 'fixtures/node-express/recording.json');
    const before = await snapshot();
    const links = async () => (await run('ip', ['-o', 'link'])).stdout.split('\n').filter((l) => /: sb-[0-9a-f]{4}-h[@:]/.test(l)).length;
    const containerdNamespaces = async (pid: number) => (await run('ctr', ['namespaces', 'ls', '-q'])).stdout.split('\n').filter((n) => n.startsWith(`slim-bench-${pid}-`));
    const linksBefore = await links();
    const slimTmp = await tempDir('bench-sigkill');
    try {
      const env = { ...process.env, SLIM_TMPDIR: slimTmp.path };
      const { child, exited, stderr } = startSlim(['bench', NODE_EXPRESS, '--record', recording, '--rounds', '1', '--bandwidth', '1gbit'], env);
      // until its engine runs a container: then it has made everything a kill can leave behind
      const deadline = Date.now() + 180_000;
      while ((await containerdNamespaces(child.pid!)).length === 0) {
        assert.ok(Date.now() < deadline && child.exitCode === null, `the bench never ran a container in its engine: ${stderr()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      child.kill('SIGKILL');
      assert.equal((await exited).signal, 'SIGKILL');
      const left = await snapshot();
      assert.ok(left.dockerds > before.dockerds && left.registries > before.registries && left.netns.includes(`slim-bench-${child.pid}-`), `a SIGKILL leaves them running: ${JSON.stringify(left)}`);
      assert.equal(await links(), linksBefore + 1, 'and the host end of its link');
      assert.ok((await containerdNamespaces(child.pid!)).length > 0, 'and its engine\'s containerd namespace');
      assert.ok((await listDir(slimTmp.path)).length > 0, 'and its temporary directories');

      const second = await slim(['bench', NODE_EXPRESS, '--record', recording, '--rounds', '1', '--warm-rounds', '1', '--json'], env);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, new RegExp(`slim: stopped dockerd left running by a killed slim \\(pid ${child.pid}\\)`));
      assert.match(second.stderr, new RegExp(`slim: stopped docker-registry left running by a killed slim \\(pid ${child.pid}\\)`));
      const measured = (JSON.parse(second.stdout) as { images: { original?: { reference: string } } }).images;
      assert.equal(measured.original?.reference, NODE_EXPRESS, 'the second bench measured the image');
      assert.deepEqual(await snapshot(), before);
      assert.equal(await links(), linksBefore);
      assert.deepEqual(await containerdNamespaces(child.pid!), []);
      assert.deepEqual(await listDir(slimTmp.path), []);
      assert.equal(await imageId(NODE_EXPRESS), originalId);
    } finally {
      await slimTmp.remove();
    }
  });
});
