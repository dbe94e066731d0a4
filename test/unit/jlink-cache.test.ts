import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cacheRoot } from '../../src/cache.js';
import { JlinkCache, jdepsKey, runtimeKey } from '../../src/jvm/jlink-cache.js';

const key = { jdk: 'openjdk-17-jdk-headless=17.0.21.1+2-1~deb12u1', javaHome: '/usr/lib/jvm/java-17-openjdk-amd64', modules: ['java.base', 'jdk.httpserver'], locales: ['ja'], archives: ['lib/server/classes.jsa'] };

test('the cache lives under SLIM_CACHE_DIR, else XDG_CACHE_HOME/slim, else ~/.cache/slim', () => {
  assert.equal(cacheRoot({ SLIM_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' }), '/c');
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '/x' }), '/x/slim');
  assert.match(cacheRoot({}), /\/\.cache\/slim$/);
});

test("a runtime's key does not depend on the order of modules, locales or archives, and changes with every input", () => {
  const k = runtimeKey(key);
  assert.equal(runtimeKey({ ...key, modules: ['jdk.httpserver', 'java.base'] }), k);
  for (const other of [
    { ...key, jdk: 'openjdk-17-jdk-headless=17.0.22+7-1~deb12u1' },
    { ...key, javaHome: '/opt/jdk' },
    { ...key, modules: ['java.base'] },
    { ...key, locales: [] },
    { ...key, archives: [] },
  ]) assert.notEqual(runtimeKey(other), k, JSON.stringify(other));
  assert.notEqual(jdepsKey(key.jdk, '17', 'a'.repeat(64)), jdepsKey(key.jdk, 'base', 'a'.repeat(64)));
  assert.notEqual(jdepsKey(key.jdk, '17', 'a'.repeat(64)), jdepsKey(key.jdk, '17', 'b'.repeat(64)));
});

describe('JlinkCache', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jlink-cache-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('jdeps output round-trips; an unknown key is a miss', async () => {
    const cache = new JlinkCache(join(dir, 'a'));
    assert.equal(await cache.jdeps('k1'), undefined);
    await cache.putJdeps('k1', 'x.A -> java.lang.Object java.base\n');
    assert.equal(await cache.jdeps('k1'), 'x.A -> java.lang.Object java.base\n');
  });

  test('a runtime comes back byte for byte with its sizes and text; a damaged entry is a miss, never a wrong file', async () => {
    const cache = new JlinkCache(join(dir, 'b'));
    const modules = join(dir, 'modules');
    const archive = join(dir, 'classes.jsa');
    await writeFile(modules, Buffer.alloc(5000, 7));
    await writeFile(archive, 'cds');
    await cache.putRuntime('r1', new Map([['lib_modules', modules], ['lib_server_classes.jsa', archive]]), 'MODULES="java.base"\n');

    const out = join(dir, 'out-');
    const hit = await cache.runtime('r1', (name) => `${out}${name}`);
    assert.deepEqual(hit, { text: 'MODULES="java.base"\n', sizes: new Map([['lib_modules', 5000], ['lib_server_classes.jsa', 3]]) });
    assert.deepEqual(await readFile(`${out}lib_modules`), Buffer.alloc(5000, 7));
    assert.equal(await cache.runtime('r2', (name) => `${out}${name}`), undefined);

    await writeFile(join(dir, 'b/jlink/runtime/r1/lib_server_classes.jsa'), 'cdX');
    assert.equal(await cache.runtime('r1', (name) => `${out}${name}`), undefined, 'the digest check catches a changed file');
  });

  test('a cache that cannot be written fails the put, and leaves no half entry behind', async () => {
    const blocker = join(dir, 'file-not-dir');
    await writeFile(blocker, '');
    const cache = new JlinkCache(blocker);
    await assert.rejects(cache.putJdeps('k', 'x'));
    assert.equal(await cache.jdeps('k'), undefined);
  });
});
