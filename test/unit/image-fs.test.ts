import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readLayerListings } from '../../src/analyze/read-layers.js';
import { SlimError } from '../../src/errors.js';
import { FileIndex } from '../../src/image/file-index.js';
import type { LayerListing } from '../../src/image/layer-listing.js';
import { openImage } from '../../src/image/open-image.js';
import { lstatThroughParents, normalizePath, resolveSymlinks } from '../../src/image/resolve-path.js';
import { IndexImageFs, materializeContents } from '../../src/image/rootfs.js';
import type { Image } from '../../src/image/types.js';
import { sparseLayer, SPARSE_DATA, SPARSE_SIZE } from '../helpers/crafted-images.js';
import { dockerArchive, tempDir, writeArchiveDir } from '../helpers/images.js';
import { buildTar, dir, listing, type TarEntrySpec } from '../helpers/layers.js';

const silent = { update: () => undefined, done: () => undefined };

function symlink(path: string, linkTarget: string): TarEntrySpec {
  return { path, type: 'symlink', linkTarget };
}

function text(path: string, content: string, mode?: number): TarEntrySpec {
  return mode === undefined ? { path, content } : { path, content, mode };
}

describe('normalizePath', () => {
  test('removes . and .. lexically, never above the root', () => {
    assert.equal(normalizePath('/a/./b/../c'), '/a/c');
    assert.equal(normalizePath('//a//b/'), '/a/b');
    assert.equal(normalizePath('/../../etc'), '/etc');
    assert.equal(normalizePath('x/../y', '/srv'), '/srv/y');
    assert.equal(normalizePath('', '/w'), '/w');
    assert.equal(normalizePath('/'), '/');
  });
});

describe('resolveSymlinks and lstatThroughParents on a FileIndex', () => {
  let index: FileIndex;
  const lstat = (p: string) => index.get(p);
  const resolve = (p: string) => resolveSymlinks(p, lstat);

  before(async () => {
    index = FileIndex.build([
      await listing(0, [
        dir('usr/'),
        dir('usr/bin/'),
        dir('usr/lib/x86_64-linux-gnu/'),
        symlink('lib', 'usr/lib'),
        text('usr/lib/x86_64-linux-gnu/libc.so.6', 'libc'),
        text('usr/bin/python3.11', 'py311'),
        symlink('usr/bin/python3', 'python3.11'),
        symlink('usr/bin/python', 'python3'),
        symlink('usr/bin/py-abs', '/usr/bin/python3.11'),
        symlink('usr/lib64/ld.so', '../lib/x86_64-linux-gnu/libc.so.6'),
        dir('a/'),
        symlink('a/link', '/b/c'),
        dir('b/c/'),
        text('b/x', 'bx'),
        text('b/c/y', 'bcy'),
        symlink('loop1', 'loop2'),
        symlink('loop2', '/loop1'),
        symlink('self', 'self'),
        text('etc/passwd', 'root'),
        symlink('escape', '../../../../etc/passwd'),
        symlink('escape-dir', '../../../..'),
        symlink('abs-escape', '/../../etc'),
        symlink('dangling', '/nowhere'),
      ]),
      // a later layer re-points python3: resolution sees the merged view
      await listing(1, [symlink('usr/bin/python3', '/opt/py/bin/python3'), text('opt/py/bin/python3', 'opt python')]),
    ]);
  });

  test('relative and absolute symlinks, and chains, recording every link passed', () => {
    const py = resolve('/usr/bin/python');
    assert.equal(py.path, '/opt/py/bin/python3');
    assert.deepEqual(py.links, ['/usr/bin/python', '/usr/bin/python3']);
    assert.equal(py.record?.type, 'file');
    assert.equal(py.record?.layer, 1);
    const abs = resolve('/usr/bin/py-abs');
    assert.equal(abs.path, '/usr/bin/python3.11');
    assert.deepEqual(abs.links, ['/usr/bin/py-abs']);
    const up = resolve('/usr/lib64/ld.so');
    assert.equal(up.path, '/usr/lib/x86_64-linux-gnu/libc.so.6');
    assert.deepEqual(up.links, ['/usr/lib64/ld.so']);
    const plain = resolve('/usr/bin/python3.11');
    assert.deepEqual(plain, { path: '/usr/bin/python3.11', record: index.get('usr/bin/python3.11'), links: [] });
  });

  test('a directory symlink in the middle of a path', () => {
    const libc = resolve('/lib/x86_64-linux-gnu/libc.so.6');
    assert.equal(libc.path, '/usr/lib/x86_64-linux-gnu/libc.so.6');
    assert.deepEqual(libc.links, ['/lib']);
    assert.equal(libc.record?.path, 'usr/lib/x86_64-linux-gnu/libc.so.6');
    assert.equal(resolve('/a/link/y').path, '/b/c/y');
    assert.equal(resolve('/a/link/y').record?.size, 3);
  });

  test('.. after a symlink climbs from the target, as the kernel does', () => {
    const r = resolve('/a/link/../x');
    assert.equal(r.path, '/b/x');
    assert.deepEqual(r.links, ['/a/link']);
    assert.equal(r.record?.type, 'file');
    assert.equal(normalizePath('/a/link/../x'), '/a/x', 'lexical normalization would be wrong here');
    assert.equal(resolve('/usr/./bin/../bin/python3.11').path, '/usr/bin/python3.11');
  });

  test('.. never climbs above the root', () => {
    const r = resolve('/escape');
    assert.equal(r.path, '/etc/passwd');
    assert.equal(r.record?.type, 'file');
    assert.equal(r.error, undefined);
    assert.equal(resolve('/../../etc/passwd').path, '/etc/passwd');
  });

  test('symlinks escaping the root resolve inside it, as in a chroot', () => {
    // escape-dir -> ../../../.. is the root; abs-escape -> /../../etc is /etc
    assert.deepEqual(resolve('/escape-dir'), { path: '/', record: index.get(''), links: ['/escape-dir'] });
    assert.equal(resolve('/escape-dir/etc/passwd').path, '/etc/passwd');
    assert.equal(resolve('/escape-dir/escape-dir/../../etc/passwd').record?.type, 'file');
    assert.equal(resolve('/abs-escape/passwd').path, '/etc/passwd');
    assert.equal(lstatThroughParents('/escape-dir/etc/passwd', lstat)?.path, 'etc/passwd');
  });

  test('loops end without hanging, with nothing found and ELOOP', () => {
    for (const path of ['/loop1', '/self', '/self/below', '/loop2/x']) {
      const r = resolve(path);
      assert.equal(r.record, undefined, path);
      assert.equal(r.error, 'ELOOP', path);
      assert.ok(r.links.length >= 1 && r.links.length <= 41, `${path}: ${r.links.length} links`);
    }
  });

  test('missing paths resolve as far as they can, without a record', () => {
    assert.deepEqual(resolve('/nope/deeper/file'), { path: '/nope/deeper/file', links: [] });
    assert.deepEqual(resolve('/lib/nope/x.so'), { path: '/usr/lib/nope/x.so', links: ['/lib'] });
    assert.deepEqual(resolve('/dangling'), { path: '/nowhere', links: ['/dangling'] });
    assert.equal(resolve('/b/x/under-a-file').record, undefined);
    assert.equal(resolve('/').path, '/');
    assert.equal(resolve('/').record?.type, 'directory');
  });

  test('lstatThroughParents follows the directories but not the last component', () => {
    assert.equal(lstatThroughParents('/lib', lstat)?.type, 'symlink');
    assert.equal(lstatThroughParents('/lib', lstat)?.linkTarget, 'usr/lib');
    assert.equal(lstatThroughParents('/lib/x86_64-linux-gnu/libc.so.6', lstat)?.path, 'usr/lib/x86_64-linux-gnu/libc.so.6');
    assert.equal(lstatThroughParents('/usr/bin/python', lstat)?.type, 'symlink');
    assert.equal(lstatThroughParents('/a/link/y', lstat)?.path, 'b/c/y');
    assert.equal(lstatThroughParents('/a/link', lstat)?.type, 'symlink');
    assert.equal(lstatThroughParents('/a/link/..', lstat)?.path, 'b');
    assert.equal(lstatThroughParents('/', lstat)?.type, 'directory');
    assert.equal(lstatThroughParents('/nope/x', lstat), undefined);
  });
});

/** Every path under a host directory with its lstat type letter: f file, d directory, l symlink, o other. */
async function walk(root: string, rel = ''): Promise<Map<string, { type: string; mode: number }>> {
  const found = new Map<string, { type: string; mode: number }>();
  for (const name of await readdir(join(root, rel))) {
    const path = rel ? `${rel}/${name}` : name;
    const info = await lstat(join(root, path));
    const type = info.isFile() ? 'f' : info.isDirectory() ? 'd' : info.isSymbolicLink() ? 'l' : 'o';
    found.set(path, { type, mode: info.mode & 0o7777 });
    if (type === 'd') for (const [p, v] of await walk(root, path)) found.set(p, v);
  }
  return found;
}

interface OpenedImage {
  image: Image;
  listings: LayerListing[];
  index: FileIndex;
}

async function openLayers(dirPath: string, layers: TarEntrySpec[][]): Promise<OpenedImage> {
  await writeArchiveDir(dirPath, dockerArchive([{ layers: await Promise.all(layers.map((l) => buildTar(l))) }]));
  const image = await openImage(dirPath);
  const listings = await readLayerListings(image, silent);
  return { image, listings, index: FileIndex.build(listings) };
}

for (const mode of ['by range', 'extracted'] as const) describe(`materializeContents and IndexImageFs, contents ${mode}`, () => {
  const extractAll = mode === 'extracted';
  let tmp: { path: string; remove(): Promise<void> };
  let opened: OpenedImage;
  let root: string;
  let fs: IndexImageFs;

  before(async () => {
    tmp = await tempDir();
    opened = await openLayers(join(tmp.path, 'archive'), [
      [
        dir('etc/'),
        text('etc/config', 'lower config'),
        text('etc/deleted', 'to be deleted'),
        text('bin/tool', 'tool bytes', 0o4755),
        text('usr/lib/real.so', 'real'),
        symlink('lib', 'usr/lib'),
        text('data/orig', 'original content'),
        { path: 'data/hard', type: 'hardlink', linkTarget: 'data/orig' },
        text('data/t1', 'target one'),
        { path: 'data/h1', type: 'hardlink', linkTarget: 'data/t1' },
        text('data/big', 'big'),
        text('opt/dir/a', 'A'),
      ],
      [
        text('etc/config', 'upper config'),
        text('etc/.wh.deleted', ''),
        text('data/t1', 'replaced'),
        text('opt/dir/.wh..wh..opq', ''),
        text('opt/dir/b', 'B'),
        symlink('escape', '../../../../../..'),
        text('escape/pwned', 'inside the root'),
        symlink('usr/lib/evil', '/tmp'),
      ],
    ]);
    root = join(tmp.path, 'work', 'contents');
    await mkdir(root, { recursive: true });
    fs = new IndexImageFs(opened.index, root, await materializeContents(opened.image, opened.index, opened.listings, root, undefined, undefined, { extractAll }));
  });
  after(async () => {
    await opened.image.close();
    await tmp.remove();
  });

  test('holds the winning copy of every file: an overwritten file shows the upper content', async () => {
    assert.equal((await fs.readFile('/etc/config'))?.toString(), 'upper config');
    if (extractAll) assert.equal(await readFile(join(root, 'files/etc/config'), 'utf8'), 'upper config');
    assert.equal((await fs.readFile('/data/t1'))?.toString(), 'replaced');
    assert.equal((await fs.readFile('/bin/tool'))?.toString(), 'tool bytes');
  });

  test('deleted files are absent, also under an opaque directory', async () => {
    assert.equal(existsSync(join(root, 'files/etc/deleted')), false);
    assert.equal(await fs.readFile('/etc/deleted'), undefined);
    assert.equal(existsSync(join(root, 'files/opt/dir/a')), false);
    assert.deepEqual(fs.list('/opt/dir'), ['b']);
    assert.equal((await fs.readFile('/opt/dir/b'))?.toString(), 'B');
  });

  test('a hardlink gets its target content as its layer held it', async () => {
    assert.equal((await fs.readFile('/data/hard'))?.toString(), 'original content');
    assert.equal((await fs.readFile('/data/h1'))?.toString(), 'target one', 'the later overwrite of the target does not change the link');
  });

  test('readFile, open and list work through symlinks', async () => {
    assert.equal((await fs.readFile('/lib/real.so'))?.toString(), 'real');
    const file = await fs.open('/lib/real.so');
    assert.ok(file);
    assert.equal(file.size, 4);
    assert.equal((await file.read(1, 2)).toString(), 'ea');
    assert.equal((await file.read(2, 100)).toString(), 'al', 'a read past the end is short');
    assert.deepEqual(fs.list('/lib'), ['evil', 'real.so']);
    assert.equal(fs.lstat('/lib')?.type, 'symlink');
    assert.equal(fs.resolve('/lib/real.so').path, '/usr/lib/real.so');
    assert.equal(await fs.readFile('/usr/lib'), undefined, 'a directory is not a readable file');
    assert.equal(await fs.open('/nope'), undefined);
  });

  if (!extractAll) test('an uncompressed layer\'s files are served from the stored archive, and nothing is copied out', async () => {
    assert.equal(existsSync(join(root, 'files')), false);
    const range = fs.content('/etc/config');
    assert.ok(range && !range.file.startsWith(root), `${range?.file} is the archive's layer`);
    assert.equal(range.size, 'upper config'.length);
    assert.equal(fs.content('/usr/lib'), undefined, 'a directory has no content');
    assert.throws(() => fs.contentFile('/etc/config'), /served by range/);
  });

  if (extractAll) test('files are written with mode 0644, whatever the image says, and nothing else is created', async () => {
    const files = await walk(join(root, 'files'));
    assert.equal(files.get('bin/tool')?.mode, 0o644);
    for (const [path, { type, mode }] of files) {
      assert.ok(type === 'f' || type === 'd', `${path} is a ${type}`);
      if (type === 'f') assert.equal(mode & 0o7111, 0, `${path} has mode ${mode.toString(8)}`);
    }
  });

  test('nothing is written outside the root', async () => {
    assert.deepEqual(await readdir(join(tmp.path, 'work')), ['contents']);
    assert.equal(existsSync(join(tmp.path, 'outside.txt')), false);
    assert.equal(existsSync(join(tmp.path, 'work', 'outside.txt')), false);
    if (!extractAll) return;
    const entry = await lstat(join(root, 'files/escape/pwned'));
    assert.ok(entry.isFile());
    assert.ok((await lstat(join(root, 'files/escape'))).isDirectory(), 'a symlink in the image is never created on the host');
  });

  test('wanted limits which files are written', async () => {
    const limited = join(tmp.path, 'limited');
    await mkdir(limited);
    await materializeContents(opened.image, opened.index, opened.listings, limited, (r) => r.path === 'etc/config' || r.path === 'data/big', undefined, { extractAll: true });
    const written = [...(await walk(join(limited, 'files'))).entries()].filter(([, v]) => v.type === 'f').map(([p]) => p);
    assert.deepEqual(written.sort(), ['data/big', 'etc/config']);
    assert.equal(await readFile(join(limited, 'files/etc/config'), 'utf8'), 'upper config');
  });

  test(
    'wanted may name a hardlink without its target',
    async () => {
      const limited = join(tmp.path, 'limited-hardlink');
      await mkdir(limited);
      const ranges = await materializeContents(opened.image, opened.index, opened.listings, limited, (r) => r.path === 'data/hard', undefined, { extractAll });
      assert.equal((await new IndexImageFs(opened.index, limited, ranges).readFile('/data/hard'))?.toString(), 'original content');
    },
  );
});

describe('materializeContents with a hardlink that climbs out of the root', () => {
  let tmp: { path: string; remove(): Promise<void> };

  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.remove();
  });

  test(
    'the layer is refused before anything is read or written (exit 3), as Docker refuses it',
    async () => {
      // root/hardlink-sources/0/../../../secret.txt would be tmp/secret.txt
      await writeFile(join(tmp.path, 'secret.txt'), 'HOST SECRET');
      await assert.rejects(
        openLayers(join(tmp.path, 'archive'), [[text('x', 'x'), { path: 'hl', type: 'hardlink', linkTarget: '../../../secret.txt' }]]),
        (err: unknown) => err instanceof SlimError && err.exitCode === 3 && /^layer 0 \([0-9a-f]{12}\): hardlink "hl" → "\.\.\/\.\.\/\.\.\/secret\.txt" climbs out of the image root$/.test(err.message),
      );
      assert.deepEqual(await readdir(tmp.path), ['archive', 'secret.txt']);
    },
  );
});

describe('materializeContents with sparse files', () => {
  let tmp: { path: string; remove(): Promise<void> };

  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.remove();
  });

  for (const format of ['gnu', 'pax'] as const) {
    test(`${format} format: the file gets its apparent size and its data at the right offsets, holes stay holes`, async () => {
      const archive = join(tmp.path, `archive-${format}`);
      await writeArchiveDir(archive, dockerArchive([{ layers: [await sparseLayer(tmp.path, format)] }]));
      const image = await openImage(archive);
      try {
        const listings = await readLayerListings(image, silent);
        const index = FileIndex.build(listings);
        const root = join(tmp.path, `contents-${format}`);
        await mkdir(root);
        const fs = new IndexImageFs(index, root, await materializeContents(image, index, listings, root));
        const big = await fs.open('/big.img');
        assert.ok(big);
        assert.equal(big.size, SPARSE_SIZE);
        for (const { offset, text: data } of SPARSE_DATA) assert.equal((await big.read(offset, data.length)).toString(), data, `data at ${offset}`);
        assert.deepEqual([...(await big.read(SPARSE_DATA[1]!.offset - 4, 4))], [0, 0, 0, 0], 'a hole reads as zeros');
        const info = await stat(join(root, 'files/big.img'));
        assert.ok(info.blocks * 512 < 1024 * 1024, `${info.blocks} blocks allocated for a ${info.size}-byte file`);
        assert.equal((await fs.readFile('/after.txt'))?.toString(), 'after');
      } finally {
        await image.close();
      }
    });
  }
});
