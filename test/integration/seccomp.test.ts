import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BuildReport } from '../../src/build/report.js';
import { freePort } from '../../src/docker/function-container.js';
import { BASELINE_SYSCALLS, type SeccompProfile } from '../../src/security/seccomp.js';
import { loadDerivedImage, rawTar } from '../helpers/crafted-images.js';
import { engineOrSkip, imageId, NODE_EXPRESS, REPO, requireFixture, run, slim, tempDir } from './support.js';

const RECORDING = join(REPO, 'fixtures/node-express/recording.json');
const TAG = 'slim-test/seccomp:v1';
/** Docker's default profile allows about 300 names; a traced function needs a fraction of them. */
const DOCKER_DEFAULT_NAMES = 300;
const CONTAINER = `slim-test-seccomp-${process.pid}`;

/** Runs node in the ORIGINAL image (under a profile, or Docker's default) to make a mkdir: prints `created` or the error code. */
async function mkdirProbe(profile?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = "try { require('fs').mkdirSync('/tmp/seccomp-probe'); console.log('created') } catch (e) { console.log(e.code); process.exitCode = 3 }";
  const security = profile ? ['--security-opt', `seccomp=${profile}`] : [];
  try {
    const { stdout, stderr } = await run('docker', ['run', '--rm', '--network', 'host', ...security, '--entrypoint', 'node', NODE_EXPRESS, '-e', script]);
    return { code: 0, stdout: stdout.trim(), stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: (e.stdout ?? '').trim(), stderr: e.stderr ?? '' };
  }
}

async function waitForHealth(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const logs = await run('docker', ['logs', CONTAINER]).then((r) => r.stdout + r.stderr, () => '');
      throw new Error(`the slim image never answered /health under the profile\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('slim build --seccomp-out on node-express', () => {
  let work: { path: string; remove(): Promise<void> };
  let ready = false;
  let originalId = '';
  let profileFile = '';
  let report: BuildReport | undefined;
  let profile: SeccompProfile | undefined;

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    originalId = await requireFixture(NODE_EXPRESS);
    work = await tempDir('seccomp');
    profileFile = join(work.path, 'seccomp.json');
    await run('docker', ['rmi', TAG]).catch(() => undefined);
  });
  after(async () => {
    await run('docker', ['rm', '-f', CONTAINER]).catch(() => undefined);
    await run('docker', ['rmi', TAG]).catch(() => undefined);
    await work?.remove();
  });

  test('builds, verifies the slim image under the profile, and writes a small profile', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--tag', TAG, '--seccomp-out', profileFile, '--json']);
    assert.equal(result.code, 0, result.stderr);
    report = JSON.parse(result.stdout) as BuildReport;
    assert.deepEqual(report.verification, { verified: true, ok: true, requests: 7, differing: 0, report: 'all 7 requests match\n', original: 'traced run' });
    assert.equal(await imageId(TAG), report.slim.id, 'tagged after verification under the profile');
    assert.equal(await imageId(NODE_EXPRESS), originalId, 'the original is untouched');

    const text = await readFile(profileFile, 'utf8');
    profile = JSON.parse(text) as SeccompProfile;
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(profile.defaultErrnoRet, 1);
    assert.deepEqual(profile.archMap, [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }]);
    assert.equal(profile.syscalls.length, 1);
    const names = profile.syscalls[0]!.names;
    assert.deepEqual(report.seccomp, { file: profileFile, syscalls: names.length });
    assert.deepEqual(names, [...new Set(names)].sort());
    assert.ok(names.length < DOCKER_DEFAULT_NAMES / 2, `${names.length} names, far fewer than Docker's ~${DOCKER_DEFAULT_NAMES}`);
    for (const name of BASELINE_SYSCALLS) assert.ok(names.includes(name), `the baseline's ${name}`);
    // what the function itself does: start node, serve HTTP
    for (const name of ['execve', 'mmap', 'openat', 'socket', 'bind', 'listen', 'accept4', 'epoll_wait', 'clone3', 'statx']) {
      assert.ok(names.includes(name), `traced ${name}`);
    }
    for (const name of ['mount', 'umount2', 'ptrace', 'bpf', 'kexec_load', 'unshare', 'setns', 'mkdir', 'mkdirat']) {
      assert.ok(!names.includes(name), `${name} is not allowed`);
    }
  });

  test('docker run of the slim image under the profile serves the recorded requests', async (t) => {
    if (!ready) return t.skip('no engine');
    assert.ok(report && profile, 'the build ran');
    const port = await freePort();
    await run('docker', ['run', '-d', '--name', CONTAINER, '--network', 'host', '-e', `PORT=${port}`, '--security-opt', `seccomp=${profileFile}`, TAG]);
    try {
      await waitForHealth(port);
      const invoke = await fetch(`http://127.0.0.1:${port}/invoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orders: [{ sku: 'kiwi', qty: 1, price: 2 }] }),
      });
      assert.equal(invoke.status, 200);
      assert.match(invoke.headers.get('content-type') ?? '', /json/);
      const missing = await fetch(`http://127.0.0.1:${port}/no-such-route`);
      assert.equal(missing.status, 404);
      // the profile is really in force on that container
      const { stdout } = await run('docker', ['inspect', '--format', '{{json .HostConfig.SecurityOpt}}', CONTAINER]);
      assert.match(stdout, /seccomp=/);
      // a graceful stop under the profile ends with the function's own exit code 0, not a kill
      await run('docker', ['stop', '-t', '10', CONTAINER]);
      const exit = await run('docker', ['inspect', '--format', '{{.State.ExitCode}}', CONTAINER]);
      assert.equal(exit.stdout.trim(), '0');
    } finally {
      await run('docker', ['rm', '-f', CONTAINER]).catch(() => undefined);
    }
  });

  test('slim verify --seccomp passes with the profile and fails when it is too tight', async (t) => {
    if (!ready) return t.skip('no engine');
    assert.ok(profile, 'the build ran');
    const passing = await slim(['verify', NODE_EXPRESS, TAG, '--record', RECORDING, '--seccomp', profileFile]);
    assert.equal(passing.code, 0, passing.stderr);
    assert.match(passing.stdout, /all 7 requests match/);

    const tight = join(work.path, 'tight.json');
    const names = profile.syscalls[0]!.names.filter((n) => n !== 'listen');
    await writeFile(tight, JSON.stringify({ ...profile, syscalls: [{ ...profile.syscalls[0], names }] }));
    const failing = await slim(['verify', NODE_EXPRESS, TAG, '--record', RECORDING, '--seccomp', tight]);
    assert.equal(failing.code, 1, failing.stdout + failing.stderr);
    assert.match(failing.stdout, /under the seccomp profile/);
    assert.match(failing.stdout, /listen EPERM/);

    const unreadable = await slim(['verify', NODE_EXPRESS, TAG, '--record', RECORDING, '--seccomp', join(work.path, 'none.json')]);
    assert.equal(unreadable.code, 3, unreadable.stderr);
    assert.equal(unreadable.stderr.trim().split('\n').length, 1, unreadable.stderr);
    assert.equal(await imageId(NODE_EXPRESS), originalId, 'the original is untouched');
  });

  test('the profile is enforced: a syscall outside it fails with EPERM, and succeeds without it', async (t) => {
    if (!ready) return t.skip('no engine');
    assert.ok(profile, 'the build ran');
    const denied = await mkdirProbe(profileFile);
    assert.equal(denied.stdout, 'EPERM', denied.stderr);
    assert.equal(denied.code, 3);
    const allowed = await mkdirProbe();
    assert.equal(allowed.stdout, 'created', allowed.stderr);
    assert.equal(allowed.code, 0);
  });

  test('an unwritable --seccomp-out is a one-line error before any work', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--tag', 'slim-test/seccomp:never', '--seccomp-out', join(work.path, 'no-such-dir', 'p.json')]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /cannot write the seccomp profile .*no-such-dir/);
    await assert.rejects(imageId('slim-test/seccomp:never'));
  });
});

/**
 * Replaces node-express's server with one that makes a syscall (getpriority) only when nobody traces
 * it: the traced run never makes it, so the profile lacks it, as with a syscall made only on some runs.
 */
const UNTRACED_ONLY_SERVER = `
const http = require('http');
const os = require('os');
const traced = !/^TracerPid:\\s+0$/m.test(require('fs').readFileSync('/proc/self/status', 'utf8'));
http.createServer((req, res) => {
  try {
    const priority = req.url === '/priority' && !traced ? os.getPriority() : 0;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ priority }));
  } catch (e) {
    res.writeHead(500);
    res.end(String(e.info ? e.info.code : e.code));
  }
}).listen(Number(process.env.PORT || 9000));
`;

describe('slim build --seccomp-out when the run needs a syscall the traced run did not make', () => {
  const ORIGINAL = 'slim-test/seccomp-untraced:v1';
  const SLIM = 'slim-test/seccomp-untraced:v1-slim';
  let work: { path: string; remove(): Promise<void> };
  let ready = false;

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    await requireFixture(NODE_EXPRESS);
    work = await tempDir('seccomp-untraced');
  });
  after(async () => {
    for (const tag of [SLIM, ORIGINAL]) await run('docker', ['rmi', tag]).catch(() => undefined);
    await work?.remove();
  });

  test('fails as a profile failure (the slim image verifies without it): exit 1, no tag, no profile', async (t) => {
    if (!ready) return t.skip('no engine');
    const layer = rawTar([{ name: 'app/server.js', content: UNTRACED_ONLY_SERVER, mode: 0o644 }]);
    const originalId = await loadDerivedImage(work.path, NODE_EXPRESS, layer, ORIGINAL);
    const recording = join(work.path, 'recording.json');
    await writeFile(
      recording,
      JSON.stringify({
        version: 1,
        port: 9000,
        portEnv: ['PORT'],
        readiness: { http: '/health', timeoutMs: 60000 },
        steps: [{ request: { method: 'GET', path: '/priority', expectStatus: 200 } }],
      }),
    );
    const profileFile = join(work.path, 'seccomp.json');
    const result = await slim(['build', ORIGINAL, '--record', recording, '--tag', SLIM, '--seccomp-out', profileFile]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stderr, /^slim: verification failed under the seccomp profile only: without it the slim image answers as the original does/m);
    assert.match(result.stderr, /status: 200 \(original\) ≠ 500 \(slim\)/);
    assert.match(result.stderr, /EPERM/);
    assert.match(result.stderr, /build again/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    await assert.rejects(imageId(SLIM), 'no slim tag');
    await assert.rejects(readFile(profileFile), 'no profile written');
    assert.equal(await imageId(ORIGINAL), originalId, 'the original is untouched');
  });
});
