import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeEngine, engineName, podmanServiceCommand, podmanSocketCandidates, selectEngine } from '../../src/docker/engine.js';
import { podmanConfigFiles } from '../../src/bench/podman-engine.js';
import { parseProcLimits, podmanUlimits, PODMAN_NPROC_CEILING } from '../../src/docker/process-limits.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max processes             96362                96362                processes 
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
`;

describe('process limits for Podman', () => {
  test('parses /proc/self/limits, unlimited as -1', () => {
    const limits = parseProcLimits(LIMITS);
    assert.deepEqual(limits.get('Max cpu time'), { soft: -1, hard: -1 });
    assert.deepEqual(limits.get('Max open files'), { soft: 1024, hard: 524288 });
    assert.deepEqual(limits.get('Max processes'), { soft: 96362, hard: 96362 });
  });

  test('asks for the open files slim has and at most Podman\'s own process ceiling', () => {
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
    const candidates = podmanSocketCandidates({ XDG_RUNTIME_DIR: '/run/user/1000' });
    assert.deepEqual([...candidates].sort(), ['/run/podman/podman.sock', '/run/user/1000/podman/podman.sock']);
  });

  test('a socket that does not exist is still named, so the error can say where Podman was looked for', () => {
    const chosen = selectEngine('podman', { CONTAINER_HOST: 'unix:///nonexistent/podman.sock' });
    assert.equal(chosen.host, 'unix:///nonexistent/podman.sock');
    assert.equal(describeEngine(), '/nonexistent/podman.sock');
    assert.equal(engineName(), 'Podman');
  });

  test('without --engine, DOCKER_HOST or the local dockerd socket', () => {
    assert.equal(selectEngine(undefined, { DOCKER_HOST: 'tcp://127.0.0.1:2375' }).host, 'tcp://127.0.0.1:2375');
    assert.equal(selectEngine(undefined, {}).host, 'unix:///var/run/docker.sock');
    assert.equal(engineName(), 'the Docker engine');
    selectEngine(undefined);
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
