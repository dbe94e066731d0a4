import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { analyzeListings, type ImageAnalysis } from '../../src/analyze/analysis.js';
import { diveEfficiency } from '../../src/analyze/efficiency.js';
import { KINDS, kindOf } from '../../src/analyze/kinds.js';
import { FileIndex, type FileRecord } from '../../src/image/file-index.js';
import type { ElfKind } from '../../src/image/elf.js';
import type { LayerListing } from '../../src/image/layer-listing.js';
import type { Image } from '../../src/image/types.js';
import { renderAnalysisJson, renderAnalysisMarkdown, renderAnalysisText } from '../../src/report/analyze-report.js';
import { PIE_EXECUTABLE, SHARED_LIBRARY } from '../helpers/elf.js';
import { dir, file, listing, sha256 } from '../helpers/layers.js';

function record(path: string, elf?: ElfKind): FileRecord {
  const r: FileRecord = { path, type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 0 };
  if (elf) r.elf = elf;
  return r;
}

function padded(head: Buffer, size: number): Buffer {
  return Buffer.concat([head, Buffer.alloc(size - head.length)]);
}

describe('kindOf', () => {
  test('sorts paths into kinds, path rules before ELF rules', () => {
    const cases: Array<[string, ElfKind | undefined, string]> = [
      ['usr/share/doc/bash/copyright', undefined, 'docs-man-locale'],
      ['usr/share/man/man1/ls.1.gz', undefined, 'docs-man-locale'],
      ['usr/local/share/man/man7/x.7', undefined, 'docs-man-locale'],
      ['usr/share/locale/de/LC_MESSAGES/apt.mo', undefined, 'docs-man-locale'],
      ['usr/lib/locale/C.utf8/LC_CTYPE', undefined, 'docs-man-locale'],
      ['var/lib/apt/lists/deb.debian.org_dists', undefined, 'package-manager'],
      ['var/lib/dpkg/status', undefined, 'package-manager'],
      ['var/cache/debconf/templates.dat', undefined, 'package-manager'],
      ['var/log/dpkg.log', undefined, 'package-manager'],
      ['etc/apt/sources.list', undefined, 'package-manager'],
      ['lib/apk/db/installed', undefined, 'package-manager'],
      ['root/.npm/_cacache/index-v5/aa', undefined, 'package-manager'],
      ['home/node/.cache/yarn/v6/x', undefined, 'package-manager'],
      ['app/node_modules/express/index.js', undefined, 'node-modules'],
      ['node_modules/left-pad/index.js', undefined, 'node-modules'],
      ['app/node_modules/sharp/build/Release/sharp.node', 'shared-library', 'node-modules'],
      ['usr/lib/python3/dist-packages/apt/__init__.py', undefined, 'python-packages'],
      ['usr/local/lib/python3.12/site-packages/numpy/_core/_multiarray.so', 'shared-library', 'python-packages'],
      ['usr/lib/x86_64-linux-gnu/libz.so.1.3', 'shared-library', 'shared-libraries'],
      ['lib/x86_64-linux-gnu/libc.so.6', 'executable', 'shared-libraries'],
      ['usr/lib/plugin.bin', 'shared-library', 'shared-libraries'],
      ['usr/bin/ls', 'executable', 'elf-executables'],
      ['usr/lib/x86_64-linux-gnu/libfoo.so', undefined, 'other'],
      ['usr/lib/x86_64-linux-gnu/crt1.o', 'object', 'other'],
      ['etc/hosts', undefined, 'other'],
      ['var/lib/dpkgx/file', undefined, 'other'],
      ['usr/share/docs-not-really/x', undefined, 'other'],
    ];
    for (const [path, elf, kind] of cases) assert.equal(kindOf(record(path, elf)), kind, path);
  });

  test(
    'node_modules is matched as a whole path component',
    () => {
      assert.equal(kindOf(record('srv/not_node_modules/x.js')), 'other');
      assert.equal(kindOf(record('node_modules_backup/x.js')), 'other');
    },
  );
});

describe('analyzeListings', () => {
  let listings: LayerListing[];
  let image: Image;
  let analysis: ImageAnalysis;

  before(async () => {
    listings = [
      await listing(0, [
        dir('usr/'),
        { path: 'usr/bin/app-exe', content: padded(PIE_EXECUTABLE(), 5000), mode: 0o755 },
        { path: 'usr/lib/x86_64-linux-gnu/libz.so.1', content: padded(SHARED_LIBRARY(), 3000) },
        file('usr/share/doc/pkg/copyright', 700),
        file('var/lib/dpkg/status', 400),
        file('etc/hosts', 10),
        file('tmp/junk', 900),
      ]),
      await listing(1, [
        file('app/node_modules/express/index.js', 1200),
        file('app/server.js', 300),
        file('usr/lib/python3/dist-packages/mod.py', 250),
        { path: 'tmp/.wh.junk', content: '' },
        file('etc/hosts', 12),
        { path: 'bin/sh', type: 'symlink', linkTarget: '/usr/bin/app-exe' },
        { path: 'evil', type: 'hardlink', linkTarget: './' },
      ]),
    ];
    image = {
      reference: 'docker-archive:/tmp/x.tar',
      source: 'docker-archive',
      id: sha256('config'),
      repoTags: ['demo:1'],
      config: {
        os: 'linux',
        architecture: 'amd64',
        config: { Entrypoint: ['node'], Cmd: ['server.js'], User: '', WorkingDir: '/app', ExposedPorts: { '8080/tcp': {}, '443/tcp': {} } },
        rootfs: { type: 'layers', diff_ids: [sha256('l0'), sha256('l1')] },
      },
      rawConfig: Buffer.from('{}'),
      layers: [0, 1].map((i) => ({
        index: i,
        diffId: sha256(`l${i}`),
        mediaType: 'application/x-tar',
        storedSize: 1000 * (i + 1),
        createdBy: i === 0 ? 'ADD rootfs /' : undefined,
        openBlob: () => Readable.from([]),
      })),
      close: async () => undefined,
    };
    analysis = { ...analyzeListings(image, listings, { top: 3, depth: 1 }), timings: { totalMs: 1_800, phases: [{ phase: 'indexing its layers', ms: 1_200 }] } };
  });

  test('totals, wasted bytes and efficiency', () => {
    assert.equal(analysis.totalBytes, 10010 + 1762);
    assert.equal(analysis.storedBytes, 3000);
    assert.equal(analysis.visibleBytes, 5000 + 3000 + 700 + 400 + 12 + 1200 + 300 + 250);
    assert.equal(analysis.fileCount, 9, 'visible non-directories, the symlink included');
    assert.equal(analysis.wastedBytes, 900 + 22);
    assert.equal(analysis.efficiency, (11772 - 922 + 10) / 11772);
    assert.equal(analysis.userWastedPercent, 922 / 1762);
    const dive = diveEfficiency(listings, FileIndex.build(listings).whiteoutSizes);
    assert.equal(analysis.efficiency, dive.efficiency);
    assert.deepEqual(analysis.wasted, [
      { path: '/tmp/junk', bytes: 900, copies: 2 },
      { path: '/etc/hosts', bytes: 22, copies: 2 },
    ]);
    assert.deepEqual(analysis.problems, ['layer 1: hardlink "evil" points at the root itself; ignored']);
  });

  test('image summary fields', () => {
    assert.deepEqual(analysis.image, {
      reference: 'docker-archive:/tmp/x.tar',
      source: 'docker-archive',
      id: sha256('config'),
      repoTags: ['demo:1'],
      os: 'linux',
      architecture: 'amd64',
      created: null,
      entrypoint: ['node'],
      cmd: ['server.js'],
      workingDir: '/app',
      user: null,
      exposedPorts: ['443/tcp', '8080/tcp'],
    });
    assert.equal(analysis.schemaVersion, 1);
  });

  test('per-layer rows', () => {
    assert.equal(analysis.layers.length, 2);
    assert.deepEqual(
      { ...analysis.layers[0]!, tarBytes: 0 },
      { index: 0, diffId: sha256('l0'), digest: null, mediaType: 'application/x-tar', storedBytes: 1000, bytes: 10010, tarBytes: 0, fileCount: 6, createdBy: 'ADD rootfs /' },
    );
    assert.equal(analysis.layers[0]!.tarBytes, listings[0]!.tarBytes);
    assert.ok(analysis.layers[0]!.tarBytes > 10010);
    assert.equal(analysis.layers[1]!.bytes, 1762);
    assert.equal(analysis.layers[1]!.createdBy, null);
  });

  test('kinds add up the visible files', () => {
    const kinds = Object.fromEntries(analysis.kinds.map((k) => [k.kind, [k.bytes, k.fileCount]]));
    assert.deepEqual(analysis.kinds.map((k) => k.kind), [...KINDS]);
    assert.deepEqual(kinds, {
      'elf-executables': [5000, 1],
      'shared-libraries': [3000, 1],
      'docs-man-locale': [700, 1],
      'package-manager': [400, 1],
      'node-modules': [1200, 1],
      'python-packages': [250, 1],
      other: [312, 3],
    });
    assert.equal(
      analysis.kinds.reduce((s, k) => s + k.bytes, 0),
      analysis.visibleBytes,
    );
  });

  test('largest files are ordered by size and cut at --top', () => {
    assert.deepEqual(analysis.largest.files, [
      { path: '/usr/bin/app-exe', bytes: 5000, layer: 0 },
      { path: '/usr/lib/x86_64-linux-gnu/libz.so.1', bytes: 3000, layer: 0 },
      { path: '/app/node_modules/express/index.js', bytes: 1200, layer: 1 },
    ]);
  });

  test('largest directories stop at --depth', () => {
    assert.deepEqual(analysis.largest.directories, [
      { path: '/usr', bytes: 8950, fileCount: 4 },
      { path: '/app', bytes: 1500, fileCount: 2 },
      { path: '/var', bytes: 400, fileCount: 1 },
    ]);
    const deeper = analyzeListings(image, listings, { top: 100, depth: 2 });
    const paths = deeper.largest.directories.map((d) => d.path);
    assert.deepEqual(paths, ['/usr', '/usr/bin', '/usr/lib', '/app', '/app/node_modules', '/usr/share', '/var', '/var/lib', '/etc', '/bin']);
    assert.ok(paths.every((p) => p.split('/').length <= 3), 'no directory deeper than 2 levels');
    assert.deepEqual(deeper.largest.directories.find((d) => d.path === '/usr/lib'), { path: '/usr/lib', bytes: 3250, fileCount: 2 });
    const byDefault = analyzeListings(image, listings);
    assert.ok(byDefault.largest.directories.some((d) => d.path === '/usr/lib/x86_64-linux-gnu'), 'depth 3 by default');
    assert.equal(byDefault.largest.directories.length, 10, 'top 10 by default');
  });

  test('the JSON report carries the documented keys', () => {
    const json = JSON.parse(renderAnalysisJson(analysis)) as Record<string, unknown>;
    for (const key of ['schemaVersion', 'image', 'layers', 'totalBytes', 'storedBytes', 'visibleBytes', 'fileCount', 'wastedBytes', 'userWastedPercent', 'efficiency', 'largest', 'kinds', 'wasted', 'problems']) {
      assert.ok(key in json, key);
    }
    assert.equal(json.wastedBytes, 922);
    assert.deepEqual(Object.keys(json.largest as object), ['files', 'directories']);
    assert.equal((json.layers as unknown[]).length, 2);
  });

  test('the table and markdown reports show the numbers', () => {
    const percent = `${(analysis.efficiency * 100).toFixed(1)}%`;
    const text = renderAnalysisText(analysis);
    assert.ok(text.includes(percent), 'efficiency');
    assert.ok(text.includes('/usr/bin/app-exe'));
    assert.ok(text.includes('Problems'));
    assert.ok(text.includes('ADD rootfs /'));
    const md = renderAnalysisMarkdown(analysis);
    assert.ok(md.startsWith('### slim analyze: `docker-archive:/tmp/x.tar`'));
    assert.ok(md.includes(`efficiency **${percent}**`));
  });

  test('the table report ends with where the time went', () => {
    assert.match(renderAnalysisText(analysis), /^time 1\.8 s: indexing its layers 1\.2 s$/m);
  });
});
