import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type Docker from 'dockerode';
import { describeEngine, engineHost, engineKind, engineName, engineUnreachableError, podmanServiceCommand, podmanSocketCandidates, selectEngine } from '../../src/docker/engine.js';
import { ExitCode, type SlimError } from '../../src/errors.js';
import { podmanConfigFiles } from '../../src/bench/podman-engine.js';
import { parseProcLimits, podmanUlimits, PODMAN_NPROC_CEILING, socketInodes } from '../../src/docker/process-limits.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max processes             96362                96362                processes 
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
`;

describe('process limits for Podman', () => {
  test('finds the socket a service listens on in /proc/net/unix', () => {
    const table = [
      'Num       RefCount Protocol Flags    Type St Inode Path',
      '0000000000000000: 00000002 00000000 00010000 0001 01 31415 /run/podman/podman.sock',
      '0000000000000000: 00000003 00000000 00000000 0001 03 27182 /run/podman/podman.sock',
      '0000000000000000: 00000002 00000000 00010000 0001 01 16180 /run/podman/podman.sock.old',
      '0000000000000000: 00000003 00000000 00000000 0001 03 11235',
    ].join('\n');
    assert.deepEqual(socketInodes(table, '/run/podman/podman.sock'), ['31415', '27182']);
    assert.deepEqual(socketInodes(table, '/nowhere.sock'), []);
  });

  test('parses /proc/self/limits, unlimited as -1', () => {
    const limits = parseProcLimits(LIMITS);
    assert.deepEqual(limits.get('Max cpu time'), { soft: -1, hard: -1 });
    assert.deepEqual(limits.get('Max open files'), { soft: 1024, hard: 524288 });
    assert.deepEqual(limits.get('Max processes'), { soft: 96362, hard: 96362 });
  });

  test('asks for the service\'s open files, and processes at most Podman\'s own ceiling', () => {
    assert.deepEqual(podmanUlimits(LIMITS), [
      { Name: 'nofile', Soft: 1024, Hard: 524288 },
      { Name: 'nproc', Soft: PODMAN_NPROC_CEILING, Hard: PODMAN_NPROC_CEILING },
    ]);
  });

  test('an unlimited limit is capped, never passed as -1 (Podman reads it as "its own maximum")', () => {
    const text = LIMITS.replace('96362                96362', 'unlimited            unlimited').replace('1024                 524288', 'unlimited            unlimited');
    assert.deepEqual(podmanUlimits(text), [
      { Name: 'nofile', Soft: 1 << 20, Hard: 1 << 20 },
      { Name: 'nproc', Soft: PODMAN_NPROC_CEILING, Hard: PODMAN_NPROC_CEILING },
    ]);
  });

  test('limits it cannot read are left to the engine', () => {
    assert.deepEqual(podmanUlimits('Limit Soft Hard Units\n'), []);
  });
});

describe('choosing the engine', () => {
  test('--engine podman takes CONTAINER_HOST alone, or looks at the rootful and rootless sockets', () => {
    assert.deepEqual(podmanSocketCandidates({ CONTAINER_HOST: 'unix:///custom/podman.sock', XDG_RUNTIME_DIR: '/run/user/1000' }), ['/custom/podman.sock']);
    assert.deepEqual(podmanSocketCandidates({ XDG_RUNTIME_DIR: '/run/user/1000' }, 0), ['/run/podman/podman.sock', '/run/user/1000/podman/podman.sock'], 'root: the rootful socket first');
    assert.deepEqual(podmanSocketCandidates({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), ['/run/user/1000/podman/podman.sock', '/run/podman/podman.sock'], 'a user: their own first');
  });

  test('a CONTAINER_HOST that is not a local socket is refused: the sensor bind-mounts files of this host', () => {
    assert.throws(() => podmanSocketCandidates({ CONTAINER_HOST: 'ssh://core@host/run/podman/podman.sock' }), (err: SlimError) => err.exitCode === ExitCode.environment && /unix socket on this host only/.test(err.message));
  });

  test('a socket that does not exist is still named, so the error can say where Podman was looked for', () => {
    const chosen = selectEngine('podman', { CONTAINER_HOST: 'unix:///nonexistent/podman.sock' });
    assert.equal(chosen.socketPath, '/nonexistent/podman.sock');
    assert.equal(describeEngine(), '/nonexistent/podman.sock');
    assert.equal(engineHost(), 'unix:///nonexistent/podman.sock');
    const err = engineUnreachableError(Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' }));
    assert.equal(err.exitCode, ExitCode.environment);
    assert.equal(err.message, "Podman's API service is not running at /nonexistent/podman.sock (ENOENT)");
    assert.match(err.hint ?? '', /^start it: podman system service --time=0 unix:\/\/\/nonexistent\/podman\.sock/);
    const denied = engineUnreachableError(Object.assign(new Error('connect EACCES'), { code: 'EACCES' }));
    assert.match(denied.message, /^no permission to use Podman's socket/);
  });

  test('without --engine, DOCKER_HOST as given or the local dockerd socket', () => {
    assert.deepEqual(selectEngine(undefined, { DOCKER_HOST: 'tcp://127.0.0.1:2375' }), { asked: 'any', host: 'tcp://127.0.0.1:2375', socketPath: undefined });
    assert.equal(engineHost(), 'tcp://127.0.0.1:2375');
    assert.match(engineUnreachableError({ code: 'ECONNREFUSED' }).message, /^Docker engine unreachable at tcp:\/\/127\.0\.0\.1:2375 \(ECONNREFUSED\)$/);
    assert.deepEqual(selectEngine(undefined, {}), { asked: 'any', host: '/var/run/docker.sock', socketPath: '/var/run/docker.sock' });
    selectEngine(undefined);
  });

  test('the engine\'s kind comes from its /version answer, asked once per connection', async () => {
    let asked = 0;
    const answering = (name: string) => ({ version: async () => ((asked += 1), { Version: '4.3.1', Components: [{ Name: name }] }) }) as unknown as Docker;
    const podman = answering('Podman Engine');
    assert.equal(await engineKind(podman), 'podman');
    assert.equal(await engineKind(podman), 'podman');
    assert.equal(asked, 1);
    assert.equal(engineName(podman), 'Podman');
    const dockerd = answering('Engine');
    assert.equal(await engineKind(dockerd), 'docker');
    assert.equal(engineName(dockerd), 'the Docker engine');
  });

  test('the start command names the socket slim looked at', () => {
    assert.match(podmanServiceCommand('/run/podman/podman.sock'), /^mkdir -p \/run\/podman && podman system service --time=0 unix:\/\/\/run\/podman\/podman.sock/);
    assert.match(podmanServiceCommand('/run/user/1000/podman/podman.sock'), /systemctl --user start podman.socket/);
  });
});

describe("the bench's throwaway Podman", () => {
  test('shares nothing with the host\'s Podman: file locks, state, store and networks in its own directory', () => {
    const files = podmanConfigFiles('/tmp/slim-bench-podman-x', 'overlay', ['127.0.0.1:5000']);
    assert.match(files['containers.conf']!, /^lock_type = "file"$/m);
    for (const key of ['tmp_dir', 'static_dir', 'volume_path', 'network_config_dir']) {
      assert.match(files['containers.conf']!, new RegExp(`^${key} = "/tmp/slim-bench-podman-x/`, 'm'), key);
    }
    assert.match(files['storage.conf']!, /^graphroot = "\/tmp\/slim-bench-podman-x\/storage"$/m);
    assert.match(files['storage.conf']!, /^runroot = "\/tmp\/slim-bench-podman-x\/run"$/m);
    assert.match(files['storage.conf']!, /^driver = "overlay"$/m);
  });

  test('trusts only the bench registry over plain HTTP, and resolves no short name elsewhere', () => {
    const text = podmanConfigFiles('/d', 'vfs', ['198.18.0.2:5000'])['registries.conf']!;
    assert.match(text, /^unqualified-search-registries = \[\]$/m);
    assert.match(text, /\[\[registry\]\]\nlocation = "198\.18\.0\.2:5000"\ninsecure = true/);
    assert.equal(text.match(/\[\[registry\]\]/g)?.length, 1);
  });
});
