import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readDpkgOwnership } from '../../src/analyze/dpkg.js';
import { summarizeUsage } from '../../src/analyze/usage.js';
import { DirImageFs } from '../../src/closure/dir-image-fs.js';
import { KeepSet } from '../../src/closure/keep-set.js';
import { FileIndex } from '../../src/image/file-index.js';
import { dir, file, listing } from '../helpers/layers.js';
import { dirIn, linkIn, writeIn } from '../helpers/host-root.js';

describe('summarizeUsage', () => {
  let index: FileIndex;
  let keep: KeepSet;
  let owners: Map<string, string>;

  before(async () => {
    index = FileIndex.build([
      await listing(0, [
        dir('usr/'),
        dir('usr/bin/'),
        file('usr/bin/app', 100),
        file('usr/lib/libx.so', 200),
        { path: 'lib', type: 'symlink', linkTarget: 'usr/lib' },
        file('usr/share/doc/a/README', 300),
        file('usr/share/doc/b/README', 50),
        file('usr/share/man/man1/x.1', 40),
        file('var/cache/apt/pkgcache.bin', 500),
        dir('var/empty/'),
        file('etc/shadowed', 1000),
      ]),
      // a later layer replaces a file: only the visible copy counts
      await listing(1, [file('etc/shadowed', 7), file('usr/share/doc/a/deep/er/still/file', 5)]),
    ]);
    keep = new KeepSet();
    keep.add('/usr/bin/app', 'traced-exec');
    keep.add('/usr/lib/libx.so', 'elf-needed');
    keep.add('/lib', 'symlink');
    keep.add('/etc/shadowed', 'rule');
    keep.add('/etc/shadowed', 'traced-open');
    keep.add('/usr/bin', 'traced-list'); // a directory: never counted as a file
    owners = new Map([
      ['/usr/bin/app', 'app'],
      ['/usr/share/doc/a/README', 'app'],
      ['/usr/lib/libx.so', 'libx'],
      ['/usr/share/doc/b/README', 'docs'],
      ['/usr/share/man/man1/x.1', 'docs'],
      ['/var/cache/apt/pkgcache.bin', 'apt'],
    ]);
  });

  test('counts kept, traced and visible files and bytes; directories are not files', () => {
    const usage = summarizeUsage(index, keep, owners);
    assert.equal(usage.visibleFiles, 9);
    assert.equal(usage.visibleBytes, 100 + 200 + 300 + 50 + 40 + 500 + 7 + 5);
    assert.equal(usage.keptFiles, 4, 'app, libx, the /lib symlink, /etc/shadowed');
    assert.equal(usage.keptBytes, 100 + 200 + 7);
    assert.equal(usage.tracedFiles, 2, 'app (traced-exec) and /etc/shadowed (traced-open); not libx (elf-needed)');
    assert.equal(usage.tracedBytes, 107);
  });

  test('removable directories are listed only at their top, largest first, up to `top`', () => {
    const usage = summarizeUsage(index, keep, owners);
    assert.deepEqual(usage.removableDirectories, [
      { path: '/var', bytes: 500, fileCount: 1 },
      { path: '/usr/share', bytes: 395, fileCount: 4 },
    ]);
    assert.deepEqual(
      summarizeUsage(index, keep, owners, 1).removableDirectories.map((d) => d.path),
      ['/var'],
    );
    const withDocKept = new KeepSet();
    withDocKept.add('/usr/share/doc/b/README', 'traced-open');
    const below = summarizeUsage(index, withDocKept, owners, 10, 6).removableDirectories.map((d) => d.path);
    assert.ok(below.includes('/usr/share/doc/a'), `a kept sibling lets its removable sibling show: ${below}`);
    assert.ok(below.includes('/usr/share/man'));
    assert.ok(!below.includes('/usr/share') && !below.includes('/usr/share/doc') && !below.includes('/usr/share/doc/b'));
    assert.ok(!below.some((p) => p.startsWith('/usr/share/doc/a/')), 'nothing below a listed directory');
    assert.deepEqual(below, ['/var', '/usr/share/doc/a', '/usr/lib', '/usr/bin', '/usr/share/man', '/etc']);
  });

  test('packages none of whose files is kept are removable; the others are kept with their kept bytes', () => {
    const usage = summarizeUsage(index, keep, owners);
    assert.deepEqual(usage.removablePackages, [
      { name: 'apt', bytes: 500, fileCount: 1 },
      { name: 'docs', bytes: 90, fileCount: 2 },
    ]);
    assert.deepEqual(usage.keptPackages, [
      { name: 'libx', keptBytes: 200, bytes: 200 },
      { name: 'app', keptBytes: 100, bytes: 400 },
    ]);
  });

  test('an empty keep set makes everything removable', () => {
    const usage = summarizeUsage(index, new KeepSet(), new Map());
    assert.equal(usage.keptFiles, 0);
    assert.equal(usage.keptBytes, 0);
    assert.deepEqual(usage.keptPackages, []);
    assert.deepEqual(usage.removablePackages, []);
    assert.deepEqual(
      usage.removableDirectories.map((d) => d.path),
      ['/usr', '/var', '/etc'],
    );
  });
});

describe('readDpkgOwnership', () => {
  let tmp: string;
  let fs: DirImageFs;

  before(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), 'slim-dpkg-')));
    const root = tmp;
    for (const top of ['bin', 'lib', 'lib64']) {
      linkIn(root, `/${top}`, `usr/${top}`);
      dirIn(root, `/usr/${top}`);
    }
    writeIn(root, '/usr/bin/dash', 'dash', 0o755);
    linkIn(root, '/usr/bin/sh', 'dash');
    writeIn(root, '/usr/share/man/man1/dash.1.gz', 'man');
    dirIn(root, '/usr/share/doc/dash');
    writeIn(root, '/usr/lib/x86_64-linux-gnu/libc.so.6', 'libc');
    linkIn(root, '/usr/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
    writeIn(root, '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 'ld');
    writeIn(root, '/etc/passwd', 'root');
    writeIn(
      root,
      '/var/lib/dpkg/info/dash.list',
      ['/.', '/bin', '/bin/dash', '/bin/sh', '/usr', '/usr/share', '/usr/share/doc/dash', '/usr/share/man/man1/dash.1.gz', '/usr/bin/gone', ''].join('\n'),
    );
    writeIn(
      root,
      '/var/lib/dpkg/info/libc6:amd64.list',
      ['/.', '/lib', '/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64', '/lib64/ld-linux-x86-64.so.2', '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'].join('\n'),
    );
    writeIn(root, '/var/lib/dpkg/info/base-passwd.list', '/.\n/etc\n/etc/passwd\n');
    writeIn(root, '/usr/lib/python3/dist-packages/flask/__init__.py', 'import x');
    writeIn(root, '/usr/lib/python3/dist-packages/flask/__pycache__/__init__.cpython-311.pyc', 'bytecode');
    writeIn(root, '/usr/lib/python3/dist-packages/flask/__pycache__/orphan.cpython-311.pyc', 'bytecode');
    writeIn(
      root,
      '/var/lib/dpkg/info/python3-flask.list',
      ['/.', '/usr/lib/python3/dist-packages/flask', '/usr/lib/python3/dist-packages/flask/__init__.py', ''].join('\n'),
    );
    writeIn(root, '/var/lib/dpkg/info/dash.md5sums', 'abc  usr/share/doc/dash/copyright\n/etc/passwd\n');
    writeIn(root, '/var/lib/dpkg/info/dash.postinst', '#!/bin/sh\n');
    fs = new DirImageFs(root);
  });
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  test('attributes files and symlinks to their package, at their path in the image (merged /usr)', async () => {
    const owners = await readDpkgOwnership(fs);
    assert.equal(owners.get('/usr/bin/dash'), 'dash', '/bin/dash in the list, /bin a symlink to usr/bin');
    assert.equal(owners.get('/usr/bin/sh'), 'dash');
    assert.equal(owners.get('/usr/share/man/man1/dash.1.gz'), 'dash');
    assert.equal(owners.get('/usr/lib/x86_64-linux-gnu/libc.so.6'), 'libc6', 'the :arch suffix is dropped');
    assert.equal(owners.get('/usr/lib64/ld-linux-x86-64.so.2'), 'libc6', 'a packaged symlink');
    assert.equal(owners.get('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), 'libc6');
    assert.equal(owners.get('/etc/passwd'), 'base-passwd', 'only .list files are read');
    assert.equal(owners.has('/bin/dash'), false, 'keyed by the path in the image');
    assert.equal(owners.has('/usr/bin/gone'), false, 'listed but missing from the image');
    // a directory goes to the first package (in list-file order) that lists it
    assert.equal(owners.get('/usr'), 'dash');
    assert.equal(owners.get('/usr/share/doc/dash'), 'dash');
    assert.equal(owners.get('/usr/lib/x86_64-linux-gnu'), 'libc6');
  });

  test('bytecode a postinst compiled belongs to the package of its source', async () => {
    const owners = await readDpkgOwnership(fs);
    assert.equal(owners.get('/usr/lib/python3/dist-packages/flask/__init__.py'), 'python3-flask');
    assert.equal(owners.get('/usr/lib/python3/dist-packages/flask/__pycache__/__init__.cpython-311.pyc'), 'python3-flask');
    assert.equal(owners.has('/usr/lib/python3/dist-packages/flask/__pycache__/orphan.cpython-311.pyc'), false, 'no listed source, no owner');
  });

  test(
    'a directory a package lists is not attributed when the image has a merged-/usr symlink there',
    async () => {
      const owners = await readDpkgOwnership(fs);
      assert.equal(owners.has('/bin'), false, `/bin owned by ${owners.get('/bin')}`);
      assert.equal(owners.has('/lib'), false, `/lib owned by ${owners.get('/lib')}`);
      assert.equal(owners.has('/lib64'), false, `/lib64 owned by ${owners.get('/lib64')}`);
    },
  );

  test('the wrong attribution makes a package look kept when only the /bin symlink is kept', async () => {
    const owners = await readDpkgOwnership(fs);
    const index = FileIndex.build([
      await listing(0, [
        { path: 'bin', type: 'symlink', linkTarget: 'usr/bin' },
        file('usr/bin/dash', 4),
        file('usr/share/man/man1/dash.1.gz', 3),
      ]),
    ]);
    const keep = new KeepSet();
    keep.add('/bin', 'symlink');
    const usage = summarizeUsage(index, keep, owners);
    assert.deepEqual(usage.keptPackages, []);
    assert.deepEqual(
      usage.removablePackages.map((p) => p.name),
      ['dash'],
    );
  });

  test('an image without dpkg gives no owners', async () => {
    const empty = realpathSync(mkdtempSync(join(tmpdir(), 'slim-dpkg-empty-')));
    try {
      writeIn(empty, '/etc/passwd', 'root');
      assert.equal((await readDpkgOwnership(new DirImageFs(empty))).size, 0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
