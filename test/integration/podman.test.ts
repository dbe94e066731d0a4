import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BenchReport } from '../../src/bench/bench-report.js';
import { processAlive } from '../../src/host-processes.js';
import type { BuildReport } from '../../src/build/report.js';
import { CLI, engineOrSkip, imageId, listDir, NODE_EXPRESS, REPO, requireFixture, run, slim, startRecording, tempDir } from './support.js';

const RECORDING = join(REPO, 'fixtures/node-express/recording.json');
const PODMAN_SOCKET = '/run/podman/podman.sock';
const TAG = 'slim-test/node-express:podman-slim';

async function podmanImageId(reference: string): Promise<string | undefined> {
  return run('podman', ['image', 'inspect', '--format', '{{.Id}}', reference]).then(
    ({ stdout }) => `sha256:${stdout.trim().replace(/^sha256:/, '')}`,
    () => undefined,
  );
}

/** Podman's API service must answer; in CI (CI=true) its absence fails the suite, as dockerd's does. */
async function podmanOrSkip(t: { skip(message: string): void }): Promise<boolean> {
  try {
    await run('docker', ['-H', `unix://${PODMAN_SOCKET}`, 'version'], { timeout: 20_000 });
    return true;
  } catch {
    if (process.env.CI) throw new Error(`Podman's API service does not answer at ${PODMAN_SOCKET}, and CI=true requires these tests to run (scripts/setup.sh starts it)`);
    t.skip('no Podman service (run scripts/setup.sh as root)');
    return false;
  }
}

/** Podman keeps its own image store: node-express goes in once, with dockerd's image ID (its config digest). */
async function loadIntoPodman(reference: string): Promise<string> {
  const id = await imageId(reference);
  if ((await podmanImageId(reference)) !== id) {
    await run('sh', ['-c', `docker save "${reference}" | podman load -q`], { maxBuffer: 16 * 1024 * 1024 });
  }
  assert.equal(await podmanImageId(reference), id, `${reference} is in Podman with dockerd's image ID`);
  return id;
}

/** Waits until the bench's Podman node (under `tmp`) runs a function, and returns the function's host pid. */
async function nodeFunctionPid(tmp: string): Promise<number> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const dir = (await listDir(tmp)).find((d) => d.startsWith('slim-bench-podman-'));
    if (dir) {
      const host = ['-H', `unix://${join(tmp, dir, 'podman.sock')}`];
      const id = (await run('docker', [...host, 'ps', '-q']).catch(() => ({ stdout: '' }))).stdout.trim().split('\n')[0];
      if (id) {
        const pid = Number((await run('docker', [...host, 'inspect', '--format', '{{.State.Pid}}', id]).catch(() => ({ stdout: '0' }))).stdout.trim());
        if (pid > 0) return pid;
      }
    }
    assert.ok(Date.now() < deadline, 'the Podman node never ran a function');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('slim on Podman: node-express end to end through its Docker-compatible API', () => {
  let ready = false;
  let work: { path: string; remove(): Promise<void> };
  let originalId = '';
  let onDocker: BuildReport;
  let onPodman: BuildReport;

  before(async (t) => {
    ready = (await engineOrSkip(t as unknown as { skip(m: string): void })) && (await podmanOrSkip(t as unknown as { skip(m: string): void }));
    if (!ready) return;
    await requireFixture(NODE_EXPRESS);
    originalId = await loadIntoPodman(NODE_EXPRESS);
    work = await tempDir('podman');
    await run('podman', ['rmi', TAG]).catch(() => undefined);
  });
  after(async () => {
    if (ready) await run('podman', ['rmi', TAG]).catch(() => undefined);
    await work?.remove();
  });

  test('build keeps the same files as on dockerd (same layer digests), verified on Podman, also under a seccomp profile', async (t) => {
    if (!ready) return t.skip('no Podman');
    const docker = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--no-verify', '--json', '--output', `oci:${join(work.path, 'docker-oci')}`]);
    assert.equal(docker.code, 0, docker.stderr);
    onDocker = JSON.parse(docker.stdout) as BuildReport;

    const profile = join(work.path, 'seccomp.json');
    const podman = await slim(['--engine', 'podman', 'build', NODE_EXPRESS, '--record', RECORDING, '--tag', TAG, '--json', '--seccomp-out', profile]);
    assert.equal(podman.code, 0, podman.stderr);
    onPodman = JSON.parse(podman.stdout) as BuildReport;
    assert.deepEqual(onPodman.verification, { verified: true, ok: true, requests: 7, differing: 0, report: 'all 7 requests match\n', original: 'traced run' });
    assert.deepEqual(onPodman.slim.layers.map((l) => l.digest), onDocker.slim.layers.map((l) => l.digest), 'the same slim layers from either engine');
    assert.equal(onPodman.slim.id, onDocker.slim.id, 'the same slim image');
    assert.ok(onPodman.seccomp && onPodman.seccomp.syscalls > 50, 'a profile was written and the slim image verified under it (Podman takes it as a path)');
    assert.ok(JSON.parse(await readFile(profile, 'utf8')).syscalls.length > 0);
    assert.equal(await podmanImageId(TAG), onPodman.slim.id, 'the slim tag is in Podman');
    assert.equal(await podmanImageId(NODE_EXPRESS), originalId, 'the original is untouched');
  });

  test('verify replays on Podman named by DOCKER_HOST alone, and analyze traces there', async (t) => {
    if (!ready) return t.skip('no Podman');
    assert.ok(onPodman, 'the build test ran first');
    // no --engine: slim recognises Podman by its answer, and gives its containers limits runc accepts
    const verified = await slim(['verify', NODE_EXPRESS, TAG, '--record', RECORDING], { DOCKER_HOST: `unix://${PODMAN_SOCKET}` });
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /all 7 requests match/);

    const analyzed = await slim(['--engine', 'podman', 'analyze', NODE_EXPRESS, '--record', RECORDING, '--format', 'json']);
    assert.equal(analyzed.code, 0, analyzed.stderr);
    const report = JSON.parse(analyzed.stdout) as { image: { id: string }; trace: unknown };
    assert.equal(report.image.id, originalId);
    assert.ok(report.trace, 'the traced run reports what the function used');
  });

  test('bench pushes from Podman and measures cold starts on a throwaway Podman node by default', async (t) => {
    if (!ready) return t.skip('no Podman');
    assert.ok(onPodman, 'the build test ran first');
    const bench = await slim(['--engine', 'podman', 'bench', NODE_EXPRESS, TAG, '--record', RECORDING, '--rounds', '1', '--warm-rounds', '1', '--format', 'json']);
    assert.equal(bench.code, 0, bench.stderr);
    const report = JSON.parse(bench.stdout) as BenchReport;
    assert.match(report.node, /^podman 4\.\d+\.\d+, (overlay|vfs)$/);
    assert.ok(report.images.original && report.images.slim, 'both images benched');
    assert.ok(report.images.slim.compressedBytes < report.images.original.compressedBytes * 0.3, 'the slim image pulls far fewer bytes');
    assert.ok(report.images.slim.coldStart.median! > 0);
  });

  test('Ctrl-C while the Podman node runs a function removes its service, containers, mounts and store', async (t) => {
    if (!ready) return t.skip('no Podman');
    const slimTmp = await tempDir('bench-podman-sigint');
    try {
      const child = spawn(process.execPath, [CLI, '--engine', 'podman', 'bench', NODE_EXPRESS, '--record', RECORDING, '--rounds', '2'], { env: { ...process.env, SLIM_TMPDIR: slimTmp.path }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const functionPid = await nodeFunctionPid(slimTmp.path);
      child.kill('SIGINT');
      assert.equal(await exited, 130, stderr);
      assert.equal(processAlive(functionPid), false, 'the function the node was running is gone');
      const left = (await run('pgrep', ['-af', slimTmp.path]).catch(() => ({ stdout: '' }))).stdout.trim();
      assert.equal(left, '', 'no podman service or conmon of the node is left');
      const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(slimTmp.path));
      assert.deepEqual(mounts, [], 'nothing is mounted under its directory');
      assert.deepEqual(await listDir(slimTmp.path), [], 'its store, state and socket are gone');
      assert.equal(await podmanImageId(NODE_EXPRESS), originalId, 'the original is untouched');
    } finally {
      await slimTmp.remove();
    }
  });

  test('after a SIGKILLed bench on the Podman node, the next slim command stops its service and conmon and removes its store', async (t) => {
    if (!ready) return t.skip('no Podman');
    const slimTmp = await tempDir('bench-podman-sigkill');
    try {
      const env = { ...process.env, SLIM_TMPDIR: slimTmp.path };
      const child = spawn(process.execPath, [CLI, '--engine', 'podman', 'bench', NODE_EXPRESS, '--record', RECORDING, '--rounds', '2'], { env, stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const functionPid = await nodeFunctionPid(slimTmp.path);
      child.kill('SIGKILL');
      await exited;
      const next = await slim(['--engine', 'podman', 'analyze', NODE_EXPRESS, '--format', 'json'], env);
      assert.equal(next.code, 0, next.stderr);
      assert.match(next.stderr, /stopped podman(, conmon)? left running by a killed slim/);
      const left = (await run('pgrep', ['-af', slimTmp.path]).catch(() => ({ stdout: '' }))).stdout.trim();
      assert.equal(left, '', 'no podman service, conmon or registry of the killed bench is left');
      assert.equal(processAlive(functionPid), false, 'nor the function the node was running');
      assert.deepEqual(await listDir(slimTmp.path), []);
    } finally {
      await slimTmp.remove();
    }
  });

  test('record runs the function on Podman', async (t) => {
    if (!ready) return t.skip('no Podman');
    const output = join(work.path, 'recorded.json');
    const { child, address, exited, stderr } = await startRecording(['--engine', 'podman', 'record', NODE_EXPRESS, '-o', output, '--duration', '60']);
    const { stdout } = await run('curl', ['-s', '-w', ' %{http_code}', `${address}/health`]);
    assert.match(stdout, / 200$/);
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr());
    const recording = JSON.parse(await readFile(output, 'utf8')) as { steps: Array<{ request?: { path: string } }> };
    assert.deepEqual(recording.steps.map((s) => s.request?.path), ['/health']);
  });

  test('--engine podman without its service exits 4 and gives the command that starts it', async (t) => {
    if (!ready) return t.skip('no Podman');
    const result = await slim(['--engine', 'podman', 'analyze', NODE_EXPRESS], { CONTAINER_HOST: `unix://${work.path}/no-such/podman.sock` });
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /^slim: Podman's API service is not running at \S+\/no-such\/podman\.sock \(ENOENT\)$/m);
    assert.match(result.stderr, /start it: podman system service --time=0 unix:\/\/\S+\/no-such\/podman\.sock/);
  });
});
