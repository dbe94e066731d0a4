import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { FileIndex, type FileRecord } from '../../src/image/file-index.js';
import { listLayerTar, type LayerListing } from '../../src/image/layer-listing.js';
import { IndexImageFs } from '../../src/image/rootfs.js';
import { grouper, parseGroupOverride, type GroupingOptions } from '../../src/plan/grouping.js';
import { planLayers, type Plan, type PlannedLayer } from '../../src/plan/plan.js';
import { buildTar, dir, file, FIXED_MTIME, listing, rawTarHeader, type TarEntrySpec } from '../helpers/layers.js';

/** Planning never reads contents: the materialized root does not need to exist. */
const NO_CONTENTS = join(tmpdir(), 'slim-plan-test-no-contents');
const MTIME = FIXED_MTIME.getTime() / 1000;

function symlink(path: string, linkTarget: string, extra: Partial<TarEntrySpec> = {}): TarEntrySpec {
  return { path, type: 'symlink', linkTarget, ...extra };
}

function hardlink(path: string, linkTarget: string): TarEntrySpec {
  return { path, type: 'hardlink', linkTarget };
}

async function indexOf(...layers: TarEntrySpec[][]): Promise<FileIndex> {
  return FileIndex.build(await Promise.all(layers.map((entries, i) => listing(i, entries))));
}

function grouping(options: Partial<GroupingOptions> = {}): GroupingOptions {
  return { owners: new Map(), workingDir: '/', baseLayers: 0, overrides: [], ...options };
}

function plan(kept: string[], index: FileIndex, options: Partial<GroupingOptions> = {}): Plan {
  return planLayers(kept, index, new IndexImageFs(index, NO_CONTENTS), grouping(options));
}

function paths(layer: PlannedLayer | undefined): string[] {
  assert.ok(layer, 'expected a layer');
  return layer.entries.map((e) => e.path);
}

function onlyLayer(result: Plan): PlannedLayer {
  assert.equal(result.layers.length, 1, `expected one layer, got ${result.layers.map((l) => l.group).join(', ')}`);
  return result.layers[0]!;
}

function record(path: string, extra: Partial<FileRecord> = {}): FileRecord {
  return { path: path.slice(1), type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 0, ...extra };
}

describe('planLayers: the keep set closed over symlinks', () => {
  test('a kept symlink pulls in its target and every link on the way, relative, absolute and through a directory link', async () => {
    const index = await indexOf(
      [
        dir('usr/'),
        dir('usr/bin/'),
        dir('usr/lib/'),
        file('usr/bin/python3.11', 100, { mode: 0o755 }),
        symlink('usr/bin/python3', 'python3.11'),
        symlink('usr/bin/python', '/usr/bin/python3'),
        file('usr/bin/perl', 7),
        symlink('lib', 'usr/lib'),
        file('usr/lib/libc.so.6', 200),
        file('usr/lib/libm.so.6', 50),
      ],
      [symlink('usr/bin/ldd', '/lib/libc.so.6')],
    );
    const result = plan(['/usr/bin/python', '/usr/bin/ldd'], index);
    assert.deepEqual(
      [...result.entries.keys()].sort(),
      ['/lib', '/usr/bin/ldd', '/usr/bin/python', '/usr/bin/python3', '/usr/bin/python3.11', '/usr/lib', '/usr/lib/libc.so.6'],
      'kept: both links, the chain python → python3 → python3.11, /lib passed on the way to libc and its target directory (not libm)',
    );
    const layer = onlyLayer(result);
    assert.deepEqual(paths(layer), ['/lib', '/usr', '/usr/bin', '/usr/bin/ldd', '/usr/bin/python', '/usr/bin/python3', '/usr/bin/python3.11', '/usr/lib', '/usr/lib/libc.so.6']);
    assert.equal(result.entries.get('/lib')!.record.type, 'symlink');
    assert.equal(result.entries.get('/lib')!.record.linkTarget, 'usr/lib', 'links are kept as links, not followed');
    assert.equal(layer.files, 6, 'symlinks count as files, directories do not');
    assert.equal(layer.bytes, 300, 'only regular files count bytes');
    assert.deepEqual(result.skipped, []);
  });

  test('a symlink into a directory keeps the target file but not the rest of that directory', async () => {
    const index = await indexOf([
      dir('opt/'),
      dir('opt/tool/'),
      dir('opt/tool/bin/'),
      file('opt/tool/bin/tool', 30, { mode: 0o755 }),
      file('opt/tool/bin/helper', 31),
      file('opt/tool/README', 10),
      file('opt/tool/lib/extra.so', 40),
      symlink('opt/current', 'tool'),
      symlink('usr/local/bin/tool', '/opt/tool/bin/tool'),
      symlink('app/run', '/opt/current/bin/tool'),
    ]);
    const direct = plan(['/usr/local/bin/tool'], index);
    assert.deepEqual(
      direct.layers.map((l) => l.group),
      ['system', 'app'],
    );
    assert.deepEqual(paths(direct.layers[0]), ['/usr', '/usr/local', '/usr/local/bin', '/usr/local/bin/tool']);
    assert.deepEqual(paths(direct.layers[1]), ['/opt', '/opt/tool', '/opt/tool/bin', '/opt/tool/bin/tool']);
    assert.equal(direct.layers[1]!.bytes, 30);

    const throughDirLink = plan(['/app/run'], index);
    assert.deepEqual(
      [...throughDirLink.entries.keys()].sort(),
      ['/app/run', '/opt/current', '/opt/tool', '/opt/tool/bin/tool'],
      'the directory link passed on the way is kept, with its target directory (not that directory contents)',
    );
    assert.deepEqual(paths(onlyLayer(throughDirLink)), ['/app', '/app/run', '/opt', '/opt/current', '/opt/tool', '/opt/tool/bin', '/opt/tool/bin/tool']);
  });

  test('a kept symlink to a directory keeps the directory itself, not its contents', async () => {
    const index = await indexOf([dir('opt/'), dir('opt/tool/', { mode: 0o750, uid: 7 }), file('opt/tool/a', 1), file('opt/tool/b', 2), symlink('opt/current', 'tool')]);
    const result = plan(['/opt/current'], index);
    const layer = onlyLayer(result);
    assert.deepEqual(paths(layer), ['/opt', '/opt/current', '/opt/tool']);
    const tool = layer.entries.find((e) => e.path === '/opt/tool')!;
    assert.equal(tool.record.mode, 0o750);
    assert.equal(tool.record.uid, 7);
    assert.equal(layer.bytes, 0);
  });

  test('a dangling symlink is kept alone; a symlink loop ends', async () => {
    const index = await indexOf([symlink('app/dangling', '/nowhere/x'), symlink('app/loop1', 'loop2'), symlink('app/loop2', 'loop1'), file('app/other', 3)]);
    const result = plan(['/app/dangling', '/app/loop1'], index);
    assert.deepEqual(paths(onlyLayer(result)), ['/app', '/app/dangling', '/app/loop1', '/app/loop2']);
  });

  test('paths a later layer deleted (whiteout, opaque directory) and unknown paths are never planned', async () => {
    const index = await indexOf(
      [dir('tmp/'), file('tmp/gone.txt', 5), dir('app/'), dir('app/old/'), file('app/old/a.txt', 6), file('app/keep.txt', 7)],
      [{ path: 'tmp/.wh.gone.txt', content: '' }, { path: 'app/old/.wh..wh..opq', content: '' }, file('app/old/new.txt', 8)],
    );
    assert.equal(index.get('/tmp/gone.txt'), undefined, 'the whiteout removed it from the index');
    const result = plan(['/tmp/gone.txt', '/app/old/a.txt', '/app/old/new.txt', '/nope/missing', '/app/keep.txt/below'], index);
    assert.deepEqual([...result.entries.keys()], ['/app/old/new.txt']);
    assert.deepEqual(paths(onlyLayer(result)), ['/app', '/app/old', '/app/old/new.txt']);
    assert.deepEqual(result.skipped, [], 'unknown paths are ignored, not reported');
  });

  test('devices and fifos are skipped and reported, also when reached through a symlink', async () => {
    const devices = Buffer.concat([
      rawTarHeader({ name: 'dev/null', typeflag: '3' }),
      rawTarHeader({ name: 'dev/sda', typeflag: '4' }),
      rawTarHeader({ name: 'run/ctl', typeflag: '6' }),
    ]);
    const rest = await buildTar([file('etc/hostname', 4), symlink('etc/console', '/dev/null')]);
    const layer0: LayerListing = await listLayerTar(0, Readable.from([Buffer.concat([devices, rest])]));
    assert.deepEqual(
      layer0.entries.map((e) => e.type),
      ['char-device', 'block-device', 'fifo', 'file', 'symlink'],
    );
    const index = FileIndex.build([layer0]);
    const result = plan(['/dev/null', '/dev/sda', '/run/ctl', '/etc/hostname', '/etc/console'], index);
    assert.deepEqual([...new Set(result.skipped)].sort(), ['/dev/null (char-device)', '/dev/sda (block-device)', '/run/ctl (fifo)']);
    assert.deepEqual(paths(onlyLayer(result)), ['/etc', '/etc/console', '/etc/hostname'], 'no device and no /dev or /run parent is written');
  });

  test(
    'a device reached twice (kept, and as a kept symlink target) is reported once',
    async () => {
      const devices = rawTarHeader({ name: 'dev/null', typeflag: '3' });
      const rest = await buildTar([symlink('etc/console', '/dev/null')]);
      const index = FileIndex.build([await listLayerTar(0, Readable.from([Buffer.concat([devices, rest])]))]);
      assert.deepEqual(plan(['/dev/null', '/etc/console'], index).skipped, ['/dev/null (char-device)']);
    },
  );
});

describe('planLayers: hardlinks', () => {
  const entries = [dir('data/'), file('data/big.bin', 1000), hardlink('data/z-link', 'data/big.bin'), file('data/small', 3)];

  test('link and target both kept: the link stays a hardlink, in the target layer group', async () => {
    const index = await indexOf(entries);
    const result = plan(['/data/z-link', '/data/big.bin'], index, { overrides: [{ glob: '/data/*-link', group: 'deps' }] });
    const layer = onlyLayer(result);
    assert.equal(layer.group, 'app', 'the override would put the link into deps: it follows its target instead');
    const link = result.entries.get('/data/z-link')!;
    assert.equal(link.hardlinkTo, '/data/big.bin');
    assert.equal(link.contentFrom, undefined);
    assert.equal(link.group, 'app');
    assert.equal(link.rule, 'hardlink to /data/big.bin');
    assert.deepEqual(paths(layer), ['/data', '/data/big.bin', '/data/z-link']);
    assert.equal(layer.files, 2);
    assert.equal(layer.bytes, 1000, 'the content is counted once');
  });

  test('only the link kept: it is written as a regular file with the target content, counted in bytes', async () => {
    const index = await indexOf(entries);
    const result = plan(['/data/z-link'], index, { overrides: [{ glob: '/data/*-link', group: 'deps' }] });
    const layer = onlyLayer(result);
    const link = result.entries.get('/data/z-link')!;
    assert.equal(link.contentFrom, '/data/big.bin');
    assert.equal(link.hardlinkTo, undefined);
    assert.equal(layer.group, 'deps', 'a link written as a file keeps its own group');
    assert.deepEqual(paths(layer), ['/data', '/data/z-link']);
    assert.ok(!result.entries.has('/data/big.bin'));
    assert.equal(layer.files, 1);
    assert.equal(layer.bytes, 1000);
  });

  test(
    'a hardlink is written after its target even when its path sorts first',
    async () => {
      const index = await indexOf([dir('data/'), file('data/big.bin', 1000), hardlink('data/a-link', 'data/big.bin')]);
      const result = plan(['/data/a-link', '/data/big.bin'], index);
      const order = paths(onlyLayer(result));
      const link = onlyLayer(result).entries.find((e) => e.hardlinkTo !== undefined);
      assert.ok(link, 'one entry stays a hardlink');
      assert.ok(order.indexOf(link.hardlinkTo!) < order.indexOf(link.path), `hardlink ${link.path} comes before its target ${link.hardlinkTo} in ${order.join(' ')}`);
    },
  );

  test(
    'a hardlink whose target a later layer replaced keeps its own content (not a link to the new file)',
    async () => {
      const index = await indexOf([dir('data/'), file('data/big.bin', 1000), hardlink('data/z-link', 'data/big.bin')], [file('data/big.bin', 10)]);
      assert.equal(index.get('/data/big.bin')!.layer, 1);
      assert.equal(index.get('/data/z-link')!.layer, 0);
      const result = plan(['/data/z-link', '/data/big.bin'], index);
      const link = result.entries.get('/data/z-link')!;
      assert.equal(link.hardlinkTo, undefined, 'the link must not share the layer-1 file: its content is the layer-0 one');
    },
  );
});

describe('planLayers: parent directories', () => {
  test('parents are added with their original mode and owner; implicit parents get 0755 root', async () => {
    const index = await indexOf([dir('home/'), dir('home/app/', { mode: 0o700, uid: 1000, gid: 1001 }), file('home/app/data/file.txt', 9, { mode: 0o600, uid: 1000, gid: 1001 })]);
    const result = plan(['/home/app/data/file.txt'], index);
    const layer = onlyLayer(result);
    assert.deepEqual(paths(layer), ['/home', '/home/app', '/home/app/data', '/home/app/data/file.txt']);
    const meta = (p: string) => {
      const e = layer.entries.find((x) => x.path === p)!;
      return { type: e.record.type, mode: e.record.mode, uid: e.record.uid, gid: e.record.gid, mtime: e.record.mtime, rule: e.rule };
    };
    assert.deepEqual(meta('/home'), { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: MTIME, rule: 'parent directory' });
    assert.deepEqual(meta('/home/app'), { type: 'directory', mode: 0o700, uid: 1000, gid: 1001, mtime: MTIME, rule: 'parent directory' });
    assert.deepEqual(meta('/home/app/data'), { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, rule: 'parent directory' }, 'implicit: no layer has an entry for it');
    assert.deepEqual(meta('/home/app/data/file.txt'), { type: 'file', mode: 0o600, uid: 1000, gid: 1001, mtime: MTIME, rule: 'outside the system directories' });
    assert.equal(layer.files, 1);
  });

  test('a later layer changing a directory metadata wins', async () => {
    const index = await indexOf([dir('srv/'), dir('srv/app/'), file('srv/app/x', 1)], [dir('srv/app/', { mode: 0o750, uid: 2000, gid: 2001 })]);
    const layer = onlyLayer(plan(['/srv/app/x'], index));
    const app = layer.entries.find((e) => e.path === '/srv/app')!;
    assert.deepEqual([app.record.mode, app.record.uid, app.record.gid, app.record.layer], [0o750, 2000, 2001, 1]);
  });

  test('each layer carries the parents of its own entries, with the same metadata', async () => {
    const index = await indexOf([dir('usr/', { mode: 0o751 }), dir('usr/lib/'), file('usr/lib/libc.so', 5), file('usr/lib/node_modules/x/index.js', 6)]);
    const result = plan(['/usr/lib/libc.so', '/usr/lib/node_modules/x/index.js'], index);
    assert.deepEqual(
      result.layers.map((l) => l.group),
      ['system', 'deps'],
    );
    assert.deepEqual(paths(result.layers[0]), ['/usr', '/usr/lib', '/usr/lib/libc.so']);
    assert.deepEqual(paths(result.layers[1]), ['/usr', '/usr/lib', '/usr/lib/node_modules', '/usr/lib/node_modules/x', '/usr/lib/node_modules/x/index.js']);
    for (const layer of result.layers) assert.equal(layer.entries.find((e) => e.path === '/usr')!.record.mode, 0o751);
  });

  test(
    'plan.entries lists kept paths only; parent directories appear in the layers, as documented',
    async () => {
      const index = await indexOf([dir('home/'), dir('home/app/'), file('home/app/f', 1)]);
      const result = plan(['/home/app/f'], index);
      assert.equal(result.entries.get('/home/app'), undefined);
      assert.equal(onlyLayer(result).entries.find((e) => e.path === '/home/app')?.rule, 'parent directory');
    },
  );
});

describe('planLayers: layers', () => {
  test('entries are sorted by path bytes, not by UTF-16 code units', async () => {
    const names = ['app/a', 'app/a-b', 'app/a/b', 'app/B', 'app/\uff21', 'app/\u{1f600}', 'app/é'];
    const index = await indexOf(names.map((n) => file(n, 1)).filter((e) => e.path !== 'app/a'));
    const result = plan(
      names.filter((n) => n !== 'app/a').map((n) => `/${n}`),
      index,
    );
    const got = paths(onlyLayer(result));
    const expected = ['/app', '/app/B', '/app/a', '/app/a-b', '/app/a/b', '/app/é', '/app/\uff21', '/app/\u{1f600}'];
    assert.deepEqual(got, expected);
    assert.ok('/app/\u{1f600}' < '/app/\uff21', 'the two differ in UTF-16 order: the test would not notice a string sort otherwise');
  });

  test('layers come in the order system → deps → app whatever the kept order; empty groups make no layer', async () => {
    const index = await indexOf([file('usr/bin/node', 10), file('srv/app/node_modules/express/index.js', 20), file('srv/app/server.js', 30), file('etc/app.conf', 40)]);
    const all = plan(['/srv/app/server.js', '/srv/app/node_modules/express/index.js', '/usr/bin/node'], index);
    assert.deepEqual(
      all.layers.map((l) => [l.group, l.files, l.bytes]),
      [
        ['system', 1, 10],
        ['deps', 1, 20],
        ['app', 1, 30],
      ],
    );
    const noDeps = plan(['/srv/app/server.js', '/etc/app.conf'], index);
    assert.deepEqual(
      noDeps.layers.map((l) => l.group),
      ['system', 'app'],
    );
    const nothing = plan(['/nope'], index);
    assert.deepEqual(nothing.layers, []);
    assert.equal(nothing.entries.size, 0);
  });

  test('a group holding only directories makes no layer: they join the most stable group with files', async () => {
    const index = await indexOf([file('usr/bin/python3', 10), dir('usr/local/lib/python3.11/dist-packages/'), file('srv/app/app.py', 5)]);
    const result = plan(['/usr/bin/python3', '/usr/local/lib/python3.11/dist-packages', '/srv/app/app.py'], index);
    assert.deepEqual(result.layers.map((l) => l.group), ['system', 'app']);
    const moved = result.entries.get('/usr/local/lib/python3.11/dist-packages')!;
    assert.equal(moved.group, 'system');
    assert.match(moved.rule, /^dependency directory dist-packages; directories only, moved to the system layer$/);
    assert.ok(paths(result.layers[0]).includes('/usr/local/lib/python3.11/dist-packages'));
  });

  test('every entry carries the group and rule that decided it', async () => {
    const index = await indexOf([file('usr/lib/libssl.so', 1), file('bin/sh', 1)], [file('usr/src/app/index.js', 1), file('usr/src/app/vendor/lib.rb', 1), file('opt/x', 1), file('usr/local/y', 1)]);
    const result = plan(['/usr/lib/libssl.so', '/bin/sh', '/usr/src/app/index.js', '/usr/src/app/vendor/lib.rb', '/opt/x', '/usr/local/y'], index, {
      owners: new Map([['/usr/lib/libssl.so', 'libssl3']]),
      workingDir: '/usr/src/app/',
      baseLayers: 1,
      overrides: [{ glob: '/opt/**', group: 'deps' }],
    });
    const decided = Object.fromEntries([...result.entries.values()].map((e) => [e.path, `${e.group}: ${e.rule}`]));
    assert.deepEqual(decided, {
      '/usr/lib/libssl.so': 'system: Debian package libssl3',
      '/bin/sh': 'system: base image layer 0',
      '/usr/src/app/index.js': 'app: working directory /usr/src/app',
      '/usr/src/app/vendor/lib.rb': 'deps: dependency directory vendor',
      '/opt/x': 'deps: --group /opt/**=deps',
      '/usr/local/y': 'system: system directory',
    });
  });
});

describe('grouper', () => {
  const decide = (path: string, options: Partial<GroupingOptions> = {}, extra: Partial<FileRecord> = {}) => grouper(grouping(options))(path, record(path, extra));

  test('--group overrides win over every other rule; the first matching one decides', () => {
    const options = {
      owners: new Map([['/usr/lib/x.so', 'libx']]),
      baseLayers: 5,
      workingDir: '/srv/app',
      overrides: [
        { glob: '/usr/lib/**', group: 'app' as const },
        { glob: '/usr/**', group: 'deps' as const },
        { glob: '/srv/app/**', group: 'system' as const },
      ],
    };
    assert.deepEqual(decide('/usr/lib/x.so', options), { group: 'app', rule: '--group /usr/lib/**=app' });
    assert.deepEqual(decide('/usr/bin/y', options), { group: 'deps', rule: '--group /usr/**=deps' });
    assert.deepEqual(decide('/srv/app/node_modules/a/.env', options), { group: 'system', rule: '--group /srv/app/**=system' }, 'globs match dot files');
  });

  test('a dpkg owner makes a path system, even inside a dependency directory', () => {
    const owners = new Map([['/usr/lib/node_modules/npm/index.js', 'npm']]);
    assert.deepEqual(decide('/usr/lib/node_modules/npm/index.js', { owners }), { group: 'system', rule: 'Debian package npm' });
    assert.deepEqual(decide('/usr/lib/node_modules/npm/other.js', { owners }), { group: 'deps', rule: 'dependency directory node_modules' });
  });

  test('dependency directories are deps, before the base-layer and working-directory rules', () => {
    for (const name of ['node_modules', 'site-packages', 'dist-packages', 'vendor', '.venv', 'bower_components']) {
      assert.deepEqual(decide(`/srv/app/x/${name}/pkg/file`, { workingDir: '/srv/app', baseLayers: 1 }, { layer: 0 }), { group: 'deps', rule: `dependency directory ${name}` });
    }
    assert.deepEqual(decide('/usr/lib/python3/dist-packages', {}), { group: 'deps', rule: 'dependency directory dist-packages' }, 'the directory itself');
    assert.deepEqual(decide('/app/vendored/x', {}), { group: 'app', rule: 'outside the system directories' }, 'whole names only');
    assert.deepEqual(decide('/app/my_node_modules/x', {}).group, 'app');
  });

  test('files of the base image layers are system', () => {
    assert.deepEqual(decide('/srv/app/server.js', { baseLayers: 2, workingDir: '/srv/app' }, { layer: 1 }), { group: 'system', rule: 'base image layer 1' });
    assert.deepEqual(decide('/srv/app/server.js', { baseLayers: 2, workingDir: '/srv/app' }, { layer: 2 }), { group: 'app', rule: 'working directory /srv/app' });
    assert.deepEqual(decide('/opt/x', { baseLayers: 0 }, { layer: 0 }), { group: 'app', rule: 'outside the system directories' });
  });

  test('the working directory is app, even under a system directory; its name must match whole', () => {
    const options = { workingDir: '/usr/src/app/' };
    assert.deepEqual(decide('/usr/src/app', options), { group: 'app', rule: 'working directory /usr/src/app' });
    assert.deepEqual(decide('/usr/src/app/index.js', options), { group: 'app', rule: 'working directory /usr/src/app' });
    assert.deepEqual(decide('/usr/src/application.js', options), { group: 'system', rule: 'system directory' });
    assert.deepEqual(decide('/usr/bin/env', { workingDir: '/' }), { group: 'system', rule: 'system directory' }, 'WORKDIR / is no rule');
    assert.deepEqual(decide('/usr/bin/env', { workingDir: '' }), { group: 'system', rule: 'system directory' });
  });

  test('system directories are system, everything else app', () => {
    for (const p of ['/usr', '/usr/bin/node', '/lib/x', '/lib32/x', '/lib64/ld.so', '/libx32/x', '/bin/sh', '/sbin/init', '/etc', '/etc/passwd', '/var/lib/x', '/run/x']) {
      assert.deepEqual(decide(p), { group: 'system', rule: 'system directory' }, p);
    }
    for (const p of ['/opt/x', '/home/u/f', '/srv/x', '/usrlocal/x', '/library/x', '/etcetera', '/app', '/tmp/x', '/x/usr/bin']) {
      assert.deepEqual(decide(p), { group: 'app', rule: 'outside the system directories' }, p);
    }
  });

  test("a site under the web root /var/www is app, unless a package owns it; /var/www itself is system", () => {
    assert.deepEqual(decide('/var/www/html/index.php'), { group: 'app', rule: 'web server document root /var/www' });
    assert.deepEqual(decide('/var/www/html/.htaccess'), { group: 'app', rule: 'web server document root /var/www' });
    assert.deepEqual(decide('/var/www'), { group: 'system', rule: 'system directory' });
    assert.deepEqual(decide('/var/wwwdata/x'), { group: 'system', rule: 'system directory' });
    assert.deepEqual(decide('/var/www/html/index.html', { owners: new Map([['/var/www/html/index.html', 'apache2']]) }), { group: 'system', rule: 'Debian package apache2' });
  });
});

describe('parseGroupOverride', () => {
  test('parses GLOB=GROUP, splitting at the last =', () => {
    assert.deepEqual(parseGroupOverride('/srv/app/**=deps'), { glob: '/srv/app/**', group: 'deps' });
    assert.deepEqual(parseGroupOverride('/x=y/**=system'), { glob: '/x=y/**', group: 'system' });
    assert.deepEqual(parseGroupOverride('*.so=app'), { glob: '*.so', group: 'app' });
  });

  test('rejects a missing glob, a missing or unknown group', () => {
    for (const bad of ['', 'nogroup', '=app', '/x=', '/x=libs', '/x=System', '/x=app ', '/x=deps=']) {
      assert.equal(parseGroupOverride(bad), undefined, JSON.stringify(bad));
    }
  });
});
