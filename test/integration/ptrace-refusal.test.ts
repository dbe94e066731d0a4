import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBenchEngine, type BenchEngine } from '../../src/bench/bench-engine.js';
import { startBenchPodman } from '../../src/bench/podman-engine.js';
import { runAllCleanups } from '../../src/cleanup.js';
import { rawTar, writeDockerArchive } from '../helpers/crafted-images.js';
import { engineOrSkip, run, slim, tempDir } from './support.js';

const TAG = 'slim-test/ptrace-refused:v1';

/**
 * An engine configured as some hardened hosts are: its default seccomp profile refuses ptrace. slim must
 * stop at the trace with exit 4 and name the profile, not report that the function exited.
 */
describe('the sensor on an engine that refuses ptrace', () => {
  let ready = false;
  let work: { path: string; remove(): Promise<void> };
  let engine: BenchEngine | undefined;
  let profile = '';
  let archive = '';

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    work = await tempDir('ptrace');
    profile = join(work.path, 'no-ptrace.json');
    await writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    engine = await startBenchEngine({ seccompProfile: profile });
    archive = await writeDockerArchive(join(work.path, 'ptrace-refused.tar'), { layers: [rawTar([{ name: 'bin/app', content: '#!/bin/sh\n', mode: 0o755 }])], repoTags: [TAG], config: { Cmd: ['/bin/app'] } });
    await run('docker', ['-H', `unix://${engine.socket}`, 'load', '-i', archive]);
    await writeFile(join(work.path, 'recording.json'), JSON.stringify({ version: 1, port: 8080, steps: [{ request: { method: 'GET', path: '/' } }] }));
  });
  after(async () => {
    await engine?.stop();
    await runAllCleanups();
    await work?.remove();
  });

  test('on Podman too: the profile is read from /libpod/info (its compat /info always says "default")', async (t) => {
    if (!ready) return t.skip('no engine');
    const podman = await startBenchPodman('127.0.0.1:1', { seccompProfile: profile });
    try {
      await run('docker', ['-H', `unix://${podman.socket}`, 'load', '-i', archive]);
      const result = await slim(['build', TAG, '--record', join(work.path, 'recording.json'), '--no-verify'], { DOCKER_HOST: `unix://${podman.socket}` });
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /^slim: Podman runs containers under the seccomp profile \S*no-ptrace\.json, which refuses ptrace, so slim cannot trace the function \(strace said: \S*strace: ptrace\(PTRACE_TRACEME, \.\.\.\): Operation not permitted\)$/m);
      const { stdout } = await run('docker', ['-H', `unix://${podman.socket}`, 'ps', '-aq']);
      assert.equal(stdout.trim(), '', 'the trace container was removed');
    } finally {
      await podman.stop();
    }
  });

  test('slim build exits 4 and names the seccomp profile that refuses ptrace', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slim(['build', TAG, '--record', join(work.path, 'recording.json'), '--no-verify'], { DOCKER_HOST: `unix://${engine!.socket}` });
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /^slim: the Docker engine runs containers under the seccomp profile \S*no-ptrace\.json, which refuses ptrace, so slim cannot trace the function \(strace said: \S*strace: ptrace\(PTRACE_TRACEME, \.\.\.\): Operation not permitted\)$/m);
    assert.match(result.stderr, /allow ptrace in that profile/);
    const { stdout } = await run('docker', ['-H', `unix://${engine!.socket}`, 'ps', '-aq']);
    assert.equal(stdout.trim(), '', 'the trace container was removed');
  });
});
