import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, engineOrSkip, imageId, listDir, NODE_EXPRESS, REPO, requireFixture, run, slim, tempDir } from './support.js';

const RECORDING = join(REPO, 'fixtures/node-express/recording.json');
const SLIM_TAG = 'slim-test/interrupts:v1';

/** Images slim wrote from this source image (they carry its ID in a label), tagged or not. */
async function slimImagesOf(sourceId: string): Promise<string[]> {
  const { stdout } = await run('docker', ['images', '-a', '-q', '--no-trunc', '--filter', `label=io.slim.source-image=${sourceId}`]);
  return [...new Set(stdout.split('\n').filter(Boolean))].sort();
}

async function containersOf(pid: number | undefined): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary', '--filter', `label=slim.pid=${pid}`]);
  return stdout.split('\n').filter(Boolean);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Running {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], slimTmp: string): Running {
  const child = spawn(process.execPath, [CLI, '--verbose', ...args], { env: { ...process.env, SLIM_TMPDIR: slimTmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => stderr, exited };
}

describe('interrupting slim at every phase', () => {
  let ready = false;
  let originalId = '';
  let idsBefore: string[] = [];
  let slimTmp: { path: string; remove(): Promise<void> };

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    originalId = await requireFixture(NODE_EXPRESS);
    idsBefore = await slimImagesOf(originalId);
    slimTmp = await tempDir('interrupts');
  });

  after(async () => {
    await run('docker', ['rmi', SLIM_TAG]).catch(() => undefined);
    await slimTmp?.remove();
  });

  /** `slim analyze --record` on node-express, once its function container exists. */
  async function startTracing(): Promise<Running> {
    const running = start(['analyze', NODE_EXPRESS, '--record', RECORDING], slimTmp.path);
    await until('the traced container exists', async () => (await containersOf(running.child.pid)).length > 0);
    return running;
  }

  /** Every trace of the run is gone, and the engine holds exactly the images it held before. */
  async function assertNothingLeft(running: Running, what: string): Promise<void> {
    assert.deepEqual(await containersOf(running.child.pid), [], `${what}: no temporary container left`);
    assert.deepEqual(await listDir(slimTmp.path), [], `${what}: no temporary file left`);
    assert.deepEqual(await slimImagesOf(originalId), idsBefore, `${what}: no slim image added or removed`);
    assert.equal(await imageId(NODE_EXPRESS), originalId, `${what}: the original image is unchanged`);
  }

  const buildPhases: Array<{ phase: string; signal: NodeJS.Signals; line: RegExp; inPhase?: (pid: number) => Promise<boolean> }> = [
    {
      phase: 'reading the image (docker save)',
      signal: 'SIGINT',
      line: /^slim: reading /m,
      inPhase: async () => (await readdir(slimTmp.path)).some((name) => name.startsWith('slim-save-')),
    },
    {
      // the layers are uncompressed, so their files are located in the spooled archive, not copied out
      phase: 'locating the image\'s files',
      signal: 'SIGINT',
      line: /^slim: indexing its layers/m,
      inPhase: async () => (await readdir(slimTmp.path)).some((name) => name.startsWith('slim-rootfs-')),
    },
    { phase: 'tracing', signal: 'SIGTERM', line: /^slim: tracing /m, inPhase: async (pid) => (await containersOf(pid)).length > 0 },
    { phase: 'writing layers', signal: 'SIGINT', line: /^slim: writing layers/m },
    { phase: 'loading into the engine', signal: 'SIGTERM', line: /^slim: loading /m },
    { phase: 'verifying', signal: 'SIGHUP', line: /^slim: verifying/m, inPhase: async (pid) => (await containersOf(pid)).length > 0 },
  ];

  for (const { phase, signal, line, inPhase } of buildPhases) {
    test(`slim build: ${signal} while ${phase} exits 130 and leaves nothing behind`, async (t) => {
      if (!ready) return t.skip('no engine');
      const running = start(['build', NODE_EXPRESS, '--record', RECORDING, '--tag', SLIM_TAG], slimTmp.path);
      await until(`build reached ${phase}: ${running.stderr()}`, async () => line.test(running.stderr()));
      if (inPhase) await until(`${phase} started`, () => inPhase(running.child.pid!));
      running.child.kill(signal);
      const { code } = await running.exited;
      assert.equal(code, 130, running.stderr());
      assert.match(running.stderr(), new RegExp(`${signal}: cleaning up`));
      await assertNothingLeft(running, phase);
      assert.equal((await run('docker', ['images', '-q', SLIM_TAG])).stdout.trim(), '', 'no slim tag was created');
    });
  }

  test('slim verify: SIGTERM while both images run leaves nothing behind', async (t) => {
    if (!ready) return t.skip('no engine');
    const running = start(['verify', NODE_EXPRESS, NODE_EXPRESS, '--record', RECORDING], slimTmp.path);
    await until('verify started a container', async () => (await containersOf(running.child.pid)).length > 0);
    running.child.kill('SIGTERM');
    assert.equal((await running.exited).code, 130, running.stderr());
    await assertNothingLeft(running, 'verify');
  });

  test('the traced container is not privileged and adds only CAP_SYS_PTRACE; SIGINT removes it', async (t) => {
    if (!ready) return t.skip('no engine');
    const running = await startTracing();
    const [id] = await containersOf(running.child.pid);
    const { stdout } = await run('docker', ['inspect', '--format', '{{json .HostConfig}}', id!]);
    const host = JSON.parse(stdout) as { Privileged: boolean; CapAdd: string[] | null; SecurityOpt: string[] | null };
    assert.equal(host.Privileged, false);
    assert.deepEqual(host.CapAdd, ['SYS_PTRACE']);
    assert.ok(!(host.SecurityOpt ?? []).some((o) => /unconfined/.test(o)), `no confinement is lifted: ${host.SecurityOpt}`);
    running.child.kill('SIGINT');
    assert.equal((await running.exited).code, 130, running.stderr());
    await assertNothingLeft(running, 'tracer privileges');
  });

  test('a parent that dies (closing slim\'s pipes) and sends SIGTERM still gets a full cleanup', async (t) => {
    if (!ready) return t.skip('no engine');
    const running = await startTracing();
    running.child.stdout!.destroy();
    running.child.stderr!.destroy();
    running.child.kill('SIGTERM');
    assert.equal((await running.exited).code, 130);
    await assertNothingLeft(running, 'closed pipes');
  });

  test('after a run killed with SIGKILL, the next run removes its leftovers and works', async (t) => {
    if (!ready) return t.skip('no engine');
    const killed = await startTracing();
    killed.child.kill('SIGKILL');
    assert.equal((await killed.exited).signal, 'SIGKILL');
    assert.notDeepEqual(await listDir(slimTmp.path), [], 'a SIGKILL leaves temporary files (nothing can clean up)');
    assert.notDeepEqual(await containersOf(killed.child.pid), [], 'and the traced container');

    const next = await slim(['analyze', NODE_EXPRESS, '--record', RECORDING, '--json'], { SLIM_TMPDIR: slimTmp.path });
    assert.equal(next.code, 0, next.stderr);
    assert.ok((JSON.parse(next.stdout) as { trace?: unknown }).trace, 'the next run traced the function');
    await assertNothingLeft(killed, 'after SIGKILL and a second run');
  });
});
