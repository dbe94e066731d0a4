import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadFleetFile, repositoryOf } from '../../src/fleet/fleet-file.js';
import { chainIds, pullFigures } from '../../src/fleet/fleet-report.js';
import { parseFleetState, renderFleetState, type FleetState } from '../../src/fleet/state-file.js';
import { identityKey, keyBytes, parseIdentityKey, type FileIdentity } from '../../src/plan/fleet-identity.js';
import { SlimError } from '../../src/errors.js';

const SHA = `sha256:${'a'.repeat(64)}`;
const SHA2 = `sha256:${'b'.repeat(64)}`;

describe('fleet file', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slim-unit-fleet-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  async function load(json: unknown) {
    const file = join(dir, 'fleet.json');
    await writeFile(file, typeof json === 'string' ? json : JSON.stringify(json));
    return loadFleetFile(file);
  }

  async function rejects(json: unknown, message: RegExp) {
    await assert.rejects(load(json), (err: unknown) => err instanceof SlimError && err.exitCode === 3 && message.test(err.message), String(message));
  }

  test('defaults: the name is the repository, the tag <name>:<tag>-slim, paths relative to the file, budget 8', async () => {
    const spec = await load({ version: 1, functions: [{ image: 'registry:5000/team/app-a:v1', recording: 'a/rec.json', profile: '/abs/p.json' }] });
    assert.equal(spec.layerBudget, 8);
    assert.deepEqual(spec.functions[0], {
      name: 'registry:5000/team/app-a',
      image: 'registry:5000/team/app-a:v1',
      recording: join(dir, 'a/rec.json'),
      profile: '/abs/p.json',
      tag: 'registry:5000/team/app-a:v1-slim',
      field: 'functions[0]',
      include: [],
      exclude: [],
      includeExe: [],
    });
    assert.equal(repositoryOf('team/app@sha256:abc'), 'team/app');
    assert.equal(repositoryOf('localhost:5000/app'), 'localhost:5000/app');
  });

  test('errors name the field', async () => {
    await rejects('{nope', /is not valid JSON/);
    await rejects({ version: 2, functions: [] }, /: version must be 1/);
    await rejects({ version: 1, functions: [] }, /functions must be a non-empty array/);
    await rejects({ version: 1, functions: [{ image: 'a:1' }] }, /functions\[0\]\.recording is missing/);
    await rejects({ version: 1, functions: [{ image: 'a:1', recording: 'r', extra: 1 }] }, /functions\[0\]\.extra is not a known field/);
    await rejects({ version: 1, functions: [{ image: 'a:1', recording: 'r' }], layerBudget: 0 }, /layerBudget must be a whole number from 1 to 100/);
    await rejects({ version: 1, functions: [{ image: 'sha256:' + 'c'.repeat(64), recording: 'r' }] }, /functions\[0\]\.tag is needed/);
    await rejects({ version: 1, functions: [{ image: 'a:1', recording: 'r' }, { image: 'a:2', recording: 'r' }] }, /functions\[1\]\.name a is also functions\[0\]'s name/);
    await rejects({ version: 1, functions: [{ image: 'a:1', recording: 'r', tag: 't:1' }, { image: 'b:1', recording: 'r', tag: 't:1' }] }, /functions\[1\]\.tag t:1 clashes with functions\[0\]/);
    await rejects({ version: 1, functions: [{ image: 'a:1', recording: 'r' }, { image: 'b:1', recording: 'r', tag: 'a:1' }] }, /functions\[1\]\.tag a:1 clashes/);
    await rejects({ version: 1, functions: [{ image: 'a:1', recording: 'r', exclude: 'x' }] }, /functions\[0\]\.exclude must be an array of strings/);
    await rejects({ version: 1, functions: [{ image: 'a:1', recording: 'r', profile: 'p.json', include: ['/x'] }] }, /functions\[0\]\.include cannot be combined with "profile"/);
  });
});

describe('identity keys', () => {
  test('round trip, and the bytes and type they tell', () => {
    const ids: FileIdentity[] = [
      { type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 1234, sha256: SHA },
      { type: 'file', mode: 0o4755, uid: 1000, gid: 50, mtime: 1700000000, size: 0, sha256: SHA2 },
      { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkTarget: '../lib/x:y "z"' },
      { type: 'directory', mode: 0o1777, uid: 0, gid: 0, mtime: 0, size: 0 },
    ];
    for (const id of ids) assert.deepEqual(parseIdentityKey(identityKey(id)), id);
    assert.equal(keyBytes(identityKey(ids[0]!)), 1234);
    assert.equal(keyBytes(identityKey(ids[2]!)), 0);
    for (const bad of ['', 'x:1:0:0:0', 'f:644:0:0:0:12:md5:00', 'd:999:0:0:0', 'l:777:0:0:0:not-json', 'd:755:0:0:0:extra']) assert.equal(parseIdentityKey(bad), undefined, bad);
  });
});

describe('state file', () => {
  const file = 'fleet-state.json';
  const state: FleetState = {
    sourceDateEpoch: 0,
    compression: 'zstd',
    layers: [
      { id: 'shared-1', parent: null, members: ['a', 'b'], delta: false, diffId: SHA, digest: SHA2, size: 10, entries: [{ path: '/usr', key: 'd:755:0:0:0' }, { path: '/usr/lib', key: 'd:755:0:0:0' }, { path: '/usr/lib/libc.so', key: `f:644:0:0:0:5:${SHA}` }] },
      { id: 'delta-1', parent: 'shared-1', members: ['c'], delta: true, diffId: SHA2, digest: SHA, size: 3, entries: [{ path: '/opt', key: 'd:755:0:0:0' }, { path: '/opt/x', key: 'l:777:0:0:0:"y"' }] },
    ],
    functions: new Map([
      ['a', ['shared-1']],
      ['c', ['shared-1', 'delta-1']],
    ]),
  };

  test('renders one entry per line and parses back to the same state', () => {
    const text = renderFleetState(state);
    assert.ok(text.includes('\n        ["/usr/lib/libc.so","f:644:0:0:0:5:sha256:'), 'an entry is one line');
    assert.deepEqual(parseFleetState(JSON.parse(text), file), state);
  });

  function broken(change: (json: Record<string, any>) => void, message: RegExp) {
    const json = JSON.parse(renderFleetState(state)) as Record<string, any>;
    change(json);
    assert.throws(() => parseFleetState(json, file), (err: unknown) => err instanceof SlimError && err.exitCode === 3 && message.test(err.message) && /--repack/.test(err.hint ?? ''), String(message));
  }

  test('a state that does not hold together is refused, naming the field and suggesting --repack', () => {
    broken((j) => (j.version = 2), /version must be 1/);
    broken((j) => (j.compression = 'brotli'), /compression must be one of gzip, zstd/);
    broken((j) => (j.layers[1].parent = 'shared-9'), /layers\[1\]\.parent shared-9 is not a layer listed before it/);
    broken((j) => (j.layers[1].id = 'shared-1'), /layers\[1\]\.id shared-1 is listed twice/);
    broken((j) => (j.layers[0].digest = 'sha256:123'), /layers\[0\]\.digest must be a sha256/);
    broken((j) => j.layers[0].entries.reverse(), /layers\[0\]\.entries\[1\] is out of order/);
    broken((j) => (j.layers[0].entries[2][1] = 'f:644:0:0:0:5:nope'), /entries\[2\] has a key that is not/);
    broken((j) => (j.layers[0].entries[0][0] = 'usr'), /entries\[0\] has a path that is not absolute/);
    broken((j) => (j.functions.c = ['delta-1']), /functions\."c" lists delta-1 on nothing, but it stands on shared-1/);
    broken((j) => (j.functions.a = ['shared-7']), /names shared-7, which is not in layers/);
  });
});

describe('pull figures', () => {
  const layer = (id: string, diffId: string, compressedBytes: number) => ({ id, shared: id.startsWith('shared'), files: 1, bytes: 1, compressedBytes, diffId, digest: diffId });
  test('a layer is reused only with the same layers below it (chain IDs)', () => {
    const functions = [
      { ok: true, layers: [layer('shared-1', SHA, 100), layer('app', 'sha256:a1', 5)] },
      { ok: true, layers: [layer('shared-1', SHA, 100), layer('app', 'sha256:a2', 7)] },
      // the same diff_id on another layer below: another chain, pulled again
      { ok: true, layers: [layer('system', 'sha256:s3', 50), layer('shared-1', SHA, 100)] },
      { ok: false, layers: [layer('shared-1', SHA, 100)] },
    ];
    assert.deepEqual(pullFigures(functions), [
      { coldNodeBytes: 105, warmNodeBytes: 5, inOrderBytes: 105 },
      { coldNodeBytes: 107, warmNodeBytes: 7, inOrderBytes: 7 },
      { coldNodeBytes: 150, warmNodeBytes: 150, inOrderBytes: 150 },
      { coldNodeBytes: 0, warmNodeBytes: 0, inOrderBytes: 0 },
    ]);
    assert.equal(chainIds([SHA])[0], SHA);
    assert.notEqual(chainIds(['sha256:s3', SHA])[1], SHA);
  });
});
