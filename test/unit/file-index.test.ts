import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { SlimError } from '../../src/errors.js';
import { FileIndex, type ShadowedCopy } from '../../src/image/file-index.js';
import { climbsOutOfRoot, listLayerTar, normalizeEntryPath } from '../../src/image/layer-listing.js';
import { escapeInvalidUtf8 } from '../../src/image/tar-normalize.js';
import { gnuLongName, rawTar, sparseLayer, SPARSE_SIZE } from '../helpers/crafted-images.js';
import { tempDir } from '../helpers/images.js';
import { buildTar, dir, file, FIXED_MTIME, listing } from '../helpers/layers.js';

function shadowedOf(index: FileIndex, path: string): ShadowedCopy[] {
  return index.shadowed.filter((s) => s.path === path);
}

function sortedShadowed(index: FileIndex): string[] {
  return index.shadowed.map((s) => `${s.path}:${s.type}:${s.size}:L${s.layer}:${s.reason}:by${s.byLayer}`).sort();
}

describe('listLayerTar', () => {
  test('lists entries with normalised paths, types, modes, owners, sizes and link targets', async () => {
    const tarData = await buildTar([
      { path: './', type: 'dir' },
      { path: './etc/', type: 'dir', mode: 0o750, uid: 0, gid: 4 },
      { path: './etc/passwd', content: 'root:x:0:0\n', mode: 0o644 },
      { path: '/usr/bin/tool', content: Buffer.alloc(70, 1), mode: 0o4755, uid: 1000, gid: 1001 },
      { path: 'usr/bin/alias', type: 'symlink', linkTarget: '../lib/tool' },
      { path: 'usr/bin/abs', type: 'symlink', linkTarget: '/usr/bin/./tool' },
      { path: 'usr/bin/hard', type: 'hardlink', linkTarget: './usr/bin/tool' },
      { path: 'usr/bin/hard2', type: 'hardlink', linkTarget: '/usr//bin/tool' },
      { path: 'var/.wh.cache', content: '' },
      { path: 'opt/app/.wh..wh..opq', content: '' },
      { path: '.wh..wh..opq', content: '' },
    ]);
    const result = await listLayerTar(4, Readable.from([tarData]));
    assert.equal(result.index, 4);
    assert.equal(result.tarBytes, tarData.length);
    assert.deepEqual(result.problems, []);
    const byPath = (p: string) => result.entries.filter((e) => e.path === p);
    assert.deepEqual(
      result.entries.map((e) => `${e.type} ${e.path}`),
      [
        'directory etc',
        'file etc/passwd',
        'file usr/bin/tool',
        'symlink usr/bin/alias',
        'symlink usr/bin/abs',
        'hardlink usr/bin/hard',
        'hardlink usr/bin/hard2',
        'whiteout var/cache',
        'opaque opt/app',
        'opaque ',
      ],
      'the root entry "./" is dropped; whiteouts name the path they delete; opaque markers name their directory',
    );
    const etc = byPath('etc')[0]!;
    assert.equal(etc.mode, 0o750);
    assert.equal(etc.gid, 4);
    const tool = byPath('usr/bin/tool')[0]!;
    assert.deepEqual(
      { size: tool.size, mode: tool.mode, uid: tool.uid, gid: tool.gid, mtime: tool.mtime },
      { size: 70, mode: 0o4755, uid: 1000, gid: 1001, mtime: FIXED_MTIME.getTime() / 1000 },
    );
    assert.equal(byPath('usr/bin/alias')[0]!.linkTarget, '../lib/tool', 'symlink targets are kept verbatim');
    assert.equal(byPath('usr/bin/abs')[0]!.linkTarget, '/usr/bin/./tool');
    assert.equal(byPath('usr/bin/hard')[0]!.linkTarget, 'usr/bin/tool', 'hard link targets are normalised');
    assert.equal(byPath('usr/bin/hard2')[0]!.linkTarget, 'usr/bin/tool');
    assert.equal(result.bytes, 'root:x:0:0\n'.length + 70, 'bytes sums the entry sizes');
    assert.equal(etc.linkTarget, undefined);
  });

  test('an entry climbing out of the root makes the layer invalid (exit 3), naming the entry and the layer', async () => {
    for (const name of ['../escape.txt', 'a/../../etc/shadow', '/../etc/passwd', './..//x']) {
      const tarData = await buildTar([file('ok.txt', 3), { path: name, content: 'x' }, file('after.txt', 4)]);
      await assert.rejects(
        listLayerTar(2, Readable.from([tarData]), undefined, 'layer 2 (0123456789ab)'),
        (err: unknown) =>
          err instanceof SlimError &&
          err.exitCode === 3 &&
          err.message === `layer 2 (0123456789ab): entry ${JSON.stringify(name)} climbs out of the image root` &&
          /Docker refuses/.test(err.hint ?? ''),
        name,
      );
    }
  });

  test('a hardlink whose target climbs out of the root makes the layer invalid', async () => {
    const tarData = await buildTar([file('ok.txt', 3), { path: 'hl', type: 'hardlink', linkTarget: '../../etc/shadow' }]);
    await assert.rejects(listLayerTar(0, Readable.from([tarData])), (err: unknown) => err instanceof SlimError && err.exitCode === 3 && /^layer 0: hardlink "hl" → "\.\.\/\.\.\/etc\/shadow" climbs out of the image root$/.test(err.message));
  });

  test('.. that stays inside the root is resolved lexically, as Docker does', async () => {
    const result = await listing(0, [{ path: 'a/../b.txt', content: 'b' }, { path: './x/y/../../z/./w.txt', content: 'w' }, { path: 'h', type: 'hardlink', linkTarget: 'q/../b.txt' }]);
    assert.deepEqual(result.entries.map((e) => `${e.path}${e.linkTarget ? ` -> ${e.linkTarget}` : ''}`), ['b.txt', 'z/w.txt', 'h -> b.txt']);
    assert.deepEqual(result.problems, []);
  });

  test('climbsOutOfRoot', () => {
    assert.equal(climbsOutOfRoot('../x'), true);
    assert.equal(climbsOutOfRoot('a/../../x'), true);
    assert.equal(climbsOutOfRoot('/..'), true);
    assert.equal(climbsOutOfRoot('a/../x'), false);
    assert.equal(climbsOutOfRoot('/abs/x'), false);
    assert.equal(climbsOutOfRoot('..foo/x'), false);
  });

  test('normalizeEntryPath', () => {
    assert.equal(normalizeEntryPath('./a//b/./c/'), 'a/b/c');
    assert.equal(normalizeEntryPath('/abs/x'), 'abs/x');
    assert.equal(normalizeEntryPath('./'), undefined);
    assert.equal(normalizeEntryPath('a/../b'), 'b');
    assert.equal(normalizeEntryPath('a/..'), undefined, 'the root itself');
    assert.equal(normalizeEntryPath('../b'), undefined, 'climbs out');
  });

  test('device nodes, FIFOs, setuid and setgid files are listed with their types and modes', async () => {
    const result = await listLayerTar(
      0,
      Readable.from([
        rawTar([
          { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
          { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 },
          { name: 'run/fifo', type: 'fifo' },
          { name: 'usr/bin/su', content: 'su', mode: 0o4755 },
          { name: 'usr/bin/wall', content: 'wall', mode: 0o2755, gid: 5 },
        ]),
      ]),
    );
    assert.deepEqual(
      result.entries.map((e) => `${e.type} ${e.path} ${e.mode.toString(8)}`),
      ['char-device dev/null 666', 'block-device dev/sda 660', 'fifo run/fifo 644', 'file usr/bin/su 4755', 'file usr/bin/wall 2755'],
    );
    assert.deepEqual(result.problems, []);
  });

  test('absolute entry names are made relative, as Docker does', async () => {
    const result = await listLayerTar(0, Readable.from([rawTar([{ name: '/etc/x', content: 'x' }, { name: '//srv//y/', type: 'dir' }])]));
    assert.deepEqual(result.entries.map((e) => e.path), ['etc/x', 'srv/y']);
  });
});

describe('names that are not plain text', () => {
  const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

  test('a newline in a name is kept as it is (JSON escapes it)', async () => {
    const result = await listLayerTar(0, Readable.from([rawTar([{ name: 'srv/new\nline.txt', content: 'n' }, { name: 'srv/tab\tname', content: 't' }])]));
    assert.deepEqual(result.entries.map((e) => e.path), ['srv/new\nline.txt', 'srv/tab\tname']);
    assert.equal(JSON.stringify(result.entries[0]!.path), '"srv/new\\nline.txt"');
  });

  test('bytes that are not UTF-8 show as \\xNN, in headers, GNU long names, pax paths and link targets; valid UTF-8 is decoded', async () => {
    const longName = bytes('srv/', 'l'.repeat(120), [0xff], '.txt');
    const tarData = Buffer.concat([
      rawTar([
        { name: bytes('srv/bad-', [0xff, 0xfe], '.txt'), content: 'a' },
        { name: bytes('srv/bad-', [0xfe, 0xff], '.txt'), content: 'b' },
        { name: bytes('srv/caf', [0xc3, 0xa9]), content: 'c' },
        { name: bytes('srv/half-', [0xc3, 0x28]), content: 'd' },
        { name: 'srv/placeholder', content: 'e', pax: { path: bytes('srv/pax-', [0x80], '.txt') } },
        { name: 'srv/link', type: 'symlink', linkname: bytes('target-', [0xff]) },
      ]).subarray(0, -1024),
      gnuLongName(longName),
      rawTar([{ name: 'srv/ignored-short-name', content: 'f' }]),
    ]);
    const result = await listLayerTar(0, Readable.from([tarData]));
    assert.deepEqual(result.entries.map((e) => e.path), [
      'srv/bad-\\xff\\xfe.txt',
      'srv/bad-\\xfe\\xff.txt',
      'srv/café',
      'srv/half-\\xc3(',
      'srv/pax-\\x80.txt',
      'srv/link',
      `srv/${'l'.repeat(120)}\\xff.txt`,
    ]);
    assert.equal(result.entries[5]!.linkTarget, 'target-\\xff');
    assert.equal(new Set(result.entries.map((e) => e.path)).size, 7, 'different byte names stay different');
  });

  test('escapeInvalidUtf8', () => {
    assert.equal(escapeInvalidUtf8(Buffer.from('plain')), 'plain');
    assert.equal(escapeInvalidUtf8(Buffer.from('żółw')), 'żółw');
    assert.equal(escapeInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80, 0x62])), 'a\\xc0\\x80b', 'an overlong encoding is not UTF-8');
    assert.equal(escapeInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80])), '\\xed\\xa0\\x80', 'nor is a surrogate');
    assert.equal(escapeInvalidUtf8(Buffer.from([0xe2, 0x82])), '\\xe2\\x82', 'a sequence cut short');
  });
});

describe('GNU sparse files', () => {
  let tmp: { path: string; remove(): Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.remove();
  });

  for (const format of ['gnu', 'pax'] as const) {
    test(`${format} format: listed under its real name with its apparent size, without reading the holes`, async () => {
      const layer = await sparseLayer(tmp.path, format);
      assert.ok(layer.length < 64 * 1024, `the tar is ${layer.length} bytes`);
      const result = await listLayerTar(0, Readable.from([layer]));
      assert.deepEqual(result.entries.map((e) => [e.path, e.type, e.size]), [
        ['big.img', 'file', SPARSE_SIZE],
        ['after.txt', 'file', 5],
      ]);
      assert.equal(result.bytes, SPARSE_SIZE + 5);
      assert.ok(result.tarBytes < 64 * 1024);
    });
  }

  test('the listing is the same whatever chunks the tar arrives in (headers split across chunks)', async () => {
    const layer = Buffer.concat([
      withoutEndBlocks(await sparseLayer(tmp.path, 'gnu')),
      withoutEndBlocks(rawTar([{ name: 'srv/p', content: 'pax', pax: { path: Buffer.from([0x73, 0x2f, 0xff]) } }, { name: 'srv/q', content: Buffer.alloc(700, 1) }])),
      await sparseLayer(tmp.path, 'pax'),
    ]);
    const whole = await listLayerTar(0, Readable.from([layer]));
    assert.deepEqual(whole.entries.map((e) => [e.path, e.size]), [
      ['big.img', SPARSE_SIZE],
      ['after.txt', 5],
      ['s/\\xff', 3],
      ['srv/q', 700],
      ['big.img', SPARSE_SIZE],
      ['after.txt', 5],
    ]);
    for (const size of [1, 7, 100, 511, 513, 4096]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < layer.length; i += size) chunks.push(layer.subarray(i, i + size));
      const split = await listLayerTar(0, Readable.from(chunks));
      assert.deepEqual(split.entries, whole.entries, `chunks of ${size} bytes`);
    }
  });
});

/** A tar's entries without the end-of-archive blocks, so another tar's entries can follow (its last entry's data must not end in a zero block). */
function withoutEndBlocks(tarData: Buffer): Buffer {
  let end = tarData.length;
  while (end >= 512 && tarData.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  return tarData.subarray(0, end);
}

describe('FileIndex', () => {
  test('a file written again in a later layer keeps the newer copy and records the older one as overwritten', async () => {
    const index = FileIndex.build([
      await listing(0, [dir('app/'), file('app/main.js', 100), file('app/util.js', 20)]),
      await listing(1, [file('app/main.js', 130, { mode: 0o600 })]),
    ]);
    const main = index.get('/app/main.js')!;
    assert.equal(main.layer, 1);
    assert.equal(main.size, 130);
    assert.equal(main.mode, 0o600);
    assert.equal(index.get('app/util.js')!.layer, 0);
    assert.deepEqual(shadowedOf(index, 'app/main.js'), [
      { path: 'app/main.js', type: 'file', size: 100, layer: 0, reason: 'overwritten', byLayer: 1 },
    ]);
    assert.equal(index.shadowed.length, 1);
  });

  test('listings are applied in layer order whatever order they are given in', async () => {
    const index = FileIndex.build([await listing(1, [file('x', 2)]), await listing(0, [file('x', 1)])]);
    assert.equal(index.get('x')!.layer, 1);
    assert.equal(index.get('x')!.size, 2);
  });

  test('a whiteout deletes a lower file', async () => {
    const index = FileIndex.build([
      await listing(0, [dir('tmp/'), file('tmp/big.bin', 1000), file('tmp/keep', 1)]),
      await listing(1, [{ path: 'tmp/.wh.big.bin', content: '' }]),
    ]);
    assert.equal(index.get('tmp/big.bin'), undefined);
    assert.deepEqual(index.list('tmp'), ['keep']);
    assert.deepEqual(index.shadowed, [{ path: 'tmp/big.bin', type: 'file', size: 1000, layer: 0, reason: 'deleted', byLayer: 1 }]);
    assert.equal(index.whiteoutSizes[1]!.get('tmp/big.bin'), 0, 'a deleted file counts 0 (as dive does)');
  });

  test('a whiteout of a directory deletes its whole subtree', async () => {
    const index = FileIndex.build([
      await listing(0, [dir('cache/'), file('cache/a', 200), file('cache/sub/b', 300), file('other', 5)]),
      await listing(1, [file('cache/c', 7)]),
      await listing(2, [{ path: '.wh.cache', content: '' }]),
    ]);
    assert.equal(index.get('cache'), undefined);
    assert.deepEqual(index.list(''), ['other']);
    assert.deepEqual(sortedShadowed(index), [
      'cache/a:file:200:L0:deleted:by2',
      'cache/c:file:7:L1:deleted:by2',
      'cache/sub/b:file:300:L0:deleted:by2',
      'cache:directory:0:L0:deleted:by2',
    ], 'every explicit entry of the subtree is shadowed; the implicit cache/sub is not');
    assert.equal(index.whiteoutSizes[2]!.get('cache'), 507, 'a deleted directory counts its lower contents');
  });

  test('a whiteout of a path that does not exist changes nothing', async () => {
    const index = FileIndex.build([await listing(0, [file('a', 1)]), await listing(1, [{ path: '.wh.nothing', content: '' }])]);
    assert.deepEqual(index.shadowed, []);
    assert.deepEqual([...index.records()].map((r) => r.path), ['a']);
  });

  test('an opaque directory hides lower children but keeps the children its own layer adds', async () => {
    const index = FileIndex.build([
      await listing(0, [dir('etc/'), dir('etc/conf.d/'), file('etc/conf.d/old.conf', 10), file('etc/conf.d/sub/x', 4), file('etc/hosts', 3)]),
      await listing(1, [dir('etc/conf.d/'), file('etc/conf.d/new.conf', 6), { path: 'etc/conf.d/.wh..wh..opq', content: '' }]),
    ]);
    assert.deepEqual(index.list('etc/conf.d'), ['new.conf']);
    assert.equal(index.get('etc/conf.d/new.conf')!.layer, 1);
    assert.equal(index.get('etc/conf.d')!.layer, 1);
    assert.equal(index.get('etc/hosts')!.layer, 0, 'siblings of the opaque directory are untouched');
    assert.deepEqual(sortedShadowed(index), ['etc/conf.d/old.conf:file:10:L0:deleted:by1', 'etc/conf.d/sub/x:file:4:L0:deleted:by1']);
  });

  test('a whiteout does not delete what its own layer adds at the same path', async () => {
    // the new copy comes before the whiteout in the tar: deletions still apply to lower layers only
    const index = FileIndex.build([
      await listing(0, [dir('srv/'), file('srv/data', 50), file('srv/gone', 9)]),
      await listing(1, [dir('srv/data/'), file('srv/data/new', 8), { path: 'srv/.wh.data', content: '' }, { path: 'srv/.wh.gone', content: '' }]),
    ]);
    const data = index.get('srv/data')!;
    assert.equal(data.type, 'directory');
    assert.equal(data.layer, 1);
    assert.deepEqual(index.list('srv/data'), ['new']);
    assert.equal(index.get('srv/gone'), undefined);
    assert.deepEqual(sortedShadowed(index), ['srv/data:file:50:L0:deleted:by1', 'srv/gone:file:9:L0:deleted:by1']);
  });

  test('hard links and symlinks are recorded with their targets; modes, owners and layers are kept', async () => {
    const index = FileIndex.build([
      await listing(0, [file('bin/busybox', 64, { mode: 0o755, uid: 0, gid: 0 })]),
      await listing(1, [
        { path: 'bin/sh', type: 'hardlink', linkTarget: '/bin/busybox' },
        { path: 'bin/ls', type: 'symlink', linkTarget: 'busybox' },
        file('home/user/.profile', 12, { mode: 0o600, uid: 1000, gid: 100 }),
      ]),
    ]);
    const sh = index.get('bin/sh')!;
    assert.deepEqual({ type: sh.type, linkTarget: sh.linkTarget, layer: sh.layer }, { type: 'hardlink', linkTarget: 'bin/busybox', layer: 1 });
    const ls = index.get('bin/ls')!;
    assert.deepEqual({ type: ls.type, linkTarget: ls.linkTarget }, { type: 'symlink', linkTarget: 'busybox' });
    const profile = index.get('home/user/.profile')!;
    assert.deepEqual({ mode: profile.mode, uid: profile.uid, gid: profile.gid, layer: profile.layer }, { mode: 0o600, uid: 1000, gid: 100, layer: 1 });
    assert.equal(index.get('bin/busybox')!.layer, 0);
  });

  test('parents no layer lists are implicit directories until a layer declares them', async () => {
    const index = FileIndex.build([await listing(0, [file('a/b/c.txt', 5), file('z', 1)])]);
    const a = index.get('a')!;
    assert.deepEqual({ type: a.type, implicit: a.implicit, layer: a.layer }, { type: 'directory', implicit: true, layer: 0 });
    assert.equal(index.get('a/b')!.implicit, true);
    assert.deepEqual([...index.records()].map((r) => r.path), ['a', 'a/b', 'a/b/c.txt', 'z'], 'records() walks depth first, sorted');

    index.apply(await listing(1, [dir('a/', { mode: 0o700, uid: 5 })]));
    const declared = index.get('a')!;
    assert.equal(declared.implicit, undefined);
    assert.equal(declared.mode, 0o700);
    assert.equal(declared.uid, 5);
    assert.equal(declared.layer, 1);
    assert.deepEqual(index.list('a'), ['b'], 'a directory entry over a directory keeps its children');
    assert.deepEqual(index.shadowed, [], 'redeclaring a directory wastes nothing');
  });

  test('a file replaced by a directory, explicitly or by a path below it', async () => {
    const index = FileIndex.build([
      await listing(0, [file('x', 10), file('y', 20)]),
      await listing(1, [dir('x/'), file('x/inner', 1), file('y/below', 2)]),
    ]);
    assert.equal(index.get('x')!.type, 'directory');
    assert.equal(index.get('x')!.implicit, undefined);
    assert.equal(index.get('y')!.type, 'directory');
    assert.equal(index.get('y')!.implicit, true);
    assert.equal(index.get('y')!.layer, 1);
    assert.deepEqual(index.list('y'), ['below']);
    assert.deepEqual(sortedShadowed(index), ['x:file:10:L0:overwritten:by1', 'y:file:20:L0:overwritten:by1']);
  });

  test('a directory replaced by a file shadows the whole directory', async () => {
    const index = FileIndex.build([
      await listing(0, [dir('d/'), file('d/a', 5), file('d/deep/b', 7)]),
      await listing(1, [file('d', 3)]),
    ]);
    const d = index.get('d')!;
    assert.equal(d.type, 'file');
    assert.equal(d.size, 3);
    assert.deepEqual(index.list('d'), []);
    assert.equal(index.get('d/a'), undefined);
    assert.deepEqual(sortedShadowed(index), ['d/a:file:5:L0:overwritten:by1', 'd/deep/b:file:7:L0:overwritten:by1', 'd:directory:0:L0:overwritten:by1']);
  });

  test('./ and / prefixed names land on the same path', async () => {
    const index = FileIndex.build([
      await listing(0, [{ path: './etc/app.conf', content: 'v1' }]),
      await listing(1, [{ path: '/etc/app.conf', content: 'v2!' }]),
      await listing(2, [{ path: 'etc//app.conf', content: 'v3!!' }]),
    ]);
    assert.deepEqual([...index.records()].map((r) => r.path), ['etc', 'etc/app.conf']);
    assert.equal(index.get('etc/app.conf')!.size, 4);
    assert.equal(index.get('etc/app.conf')!.layer, 2);
    assert.deepEqual(sortedShadowed(index), ['etc/app.conf:file:2:L0:overwritten:by1', 'etc/app.conf:file:3:L1:overwritten:by2']);
  });

  test('entries with .. never reach the merged view: the layer is refused', async () => {
    await assert.rejects(listing(0, [file('safe', 1), { path: 'x/../../root/.ssh/authorized_keys', content: 'k' }]), /climbs out of the image root/);
  });
});
