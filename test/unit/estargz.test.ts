import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { prefetchOrder, prefetchRecords } from '../../src/build/layer-contents.js';
import { ESTARGZ, estargzFooter, parseEstargzFooter, writeEstargzLayer, type TocEntry } from '../../src/image/estargz.js';
import type { TarEntrySpec, WrittenLayer } from '../../src/image/layer-writer.js';
import type { PlannedEntry } from '../../src/plan/plan.js';
import { tempDir } from '../helpers/images.js';
import { patternBuffer, readTarEntries } from '../helpers/tar-read.js';

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const BIG = 9 * 1024 * 1024 + 123;

let tmp: { path: string; remove(): Promise<void> };
let n = 0;
const dirFor = async (name: string) => {
  const dir = join(tmp.path, `${n++}-${name}`);
  await mkdir(dir);
  return dir;
};

let files: { first: string; second: string; big: string; empty: string };

function specs(): TarEntrySpec[] {
  const base = { uid: 0, gid: 0, mtime: 0 };
  return [
    { ...base, path: 'app', type: 'directory', mode: 0o755 },
    { ...base, path: 'app/first.js', type: 'file', mode: 0o644, contentFile: files.first },
    { ...base, path: 'app/big.bin', type: 'file', mode: 0o600, contentFile: files.big },
    { ...base, path: 'app/empty', type: 'file', mode: 0o644, contentFile: files.empty },
    { ...base, path: 'app/link', type: 'symlink', mode: 0o777, linkTarget: 'first.js' },
    { path: 'app/second.js', type: 'file', mode: 0o640, uid: 1000, gid: 1000, mtime: 1_700_000_000, contentFile: files.second },
    { ...base, path: 'app/hard', type: 'hardlink', mode: 0o644, linkTarget: 'app/second.js' },
  ];
}

async function write(prefetch: number, name: string): Promise<{ layer: WrittenLayer; blob: Buffer; tar: Buffer; toc: TocEntry[]; tocBytes: Buffer }> {
  const dir = await dirFor(name);
  const layer = await writeEstargzLayer(specs(), prefetch, join(dir, 'layer.tar'), join(dir, 'layer.blob'), 0);
  const blob = await readFile(layer.blob.path);
  const tar = await readFile(layer.tar.path);
  const tocOffset = parseEstargzFooter(blob.subarray(blob.length - ESTARGZ.footerSize))!;
  const tocTar = gunzipSync(blob.subarray(tocOffset, blob.length - ESTARGZ.footerSize));
  const [tocEntry] = await readTarEntries(tocTar);
  assert.equal(tocEntry!.header.name, ESTARGZ.toc);
  return { layer, blob, tar, toc: (JSON.parse(tocEntry!.data.toString()) as { entries: TocEntry[] }).entries, tocBytes: tocEntry!.data };
}

before(async () => {
  tmp = await tempDir();
  const dir = await dirFor('contents');
  files = { first: join(dir, 'first'), second: join(dir, 'second'), big: join(dir, 'big'), empty: join(dir, 'empty') };
  await writeFile(files.first, 'console.log("first");\n');
  await writeFile(files.second, 'console.log("second");\n'.repeat(100));
  await writeFile(files.big, patternBuffer(BIG));
  await writeFile(files.empty, '');
});
after(async () => tmp.remove());

describe('eStargz layers', () => {
  test('a valid gzip of the tar: prefetched entries, the landmark, the rest, and the TOC last', async () => {
    const { layer, blob, tar } = await write(3, 'layout');
    assert.ok(gunzipSync(blob).equals(tar), 'the whole blob decompresses to the layer tar');
    assert.equal(layer.tar.digest, sha256(tar));
    assert.equal(layer.tar.size, tar.length);
    assert.equal(layer.blob.digest, sha256(blob));
    const names = (await readTarEntries(tar)).map((e) => e.header.name);
    assert.deepEqual(names, ['app/', 'app/first.js', 'app/big.bin', ESTARGZ.prefetchLandmark, 'app/empty', 'app/link', 'app/second.js', 'app/hard', ESTARGZ.toc]);
    const landmark = (await readTarEntries(tar)).find((e) => e.header.name === ESTARGZ.prefetchLandmark)!;
    assert.deepEqual([...landmark.data], [0x0f]);
    assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(layer.compression, 'estargz');
  });

  test('the TOC lists every entry, with offsets of gzip members, chunk digests and the whole-file digest', async () => {
    const { layer, blob, toc, tocBytes } = await write(3, 'toc');
    assert.equal(layer.annotations[ESTARGZ.tocDigestAnnotation], sha256(tocBytes));
    assert.equal(layer.annotations[ESTARGZ.uncompressedSizeAnnotation], String(layer.tar.size));
    const big = await readFile(files.big);
    const bigEntries = toc.filter((e) => e.name === 'app/big.bin');
    assert.deepEqual(bigEntries.map((e) => [e.type, e.chunkOffset, e.chunkSize]), [['reg', 0, ESTARGZ.chunkSize], ['chunk', ESTARGZ.chunkSize, ESTARGZ.chunkSize], ['chunk', 2 * ESTARGZ.chunkSize, 0]]);
    assert.equal(bigEntries[0]!.digest, sha256(big));
    assert.equal(bigEntries[0]!.size, BIG);
    for (const e of toc.filter((x) => x.offset !== undefined)) {
      const content = e.name === 'app/big.bin' ? big : await readFile(e.name === 'app/first.js' ? files.first : e.name === 'app/second.js' ? files.second : files.first);
      const from = e.chunkOffset ?? 0;
      const length = e.chunkSize ? e.chunkSize : content.length - from;
      const piece = content.subarray(from, from + length);
      if (e.name.startsWith('.')) continue;
      assert.equal(e.chunkDigest, sha256(piece), `${e.name} @${from}: chunk digest`);
      assert.ok(gunzipSync(blob.subarray(e.offset!)).subarray(0, piece.length).equals(piece), `${e.name} @${from}: a gzip member starts at its offset`);
    }
    const byName = new Map(toc.map((e) => [e.name, e]));
    assert.deepEqual([byName.get('app/')!.type, byName.get('app/')!.mode], ['dir', 0o40755]);
    assert.deepEqual([byName.get('app/link')!.type, byName.get('app/link')!.linkName], ['symlink', 'first.js']);
    assert.deepEqual([byName.get('app/hard')!.type, byName.get('app/hard')!.linkName], ['hardlink', 'app/second.js']);
    assert.deepEqual([byName.get('app/empty')!.size, byName.get('app/empty')!.offset], [0, undefined]);
    assert.deepEqual([byName.get('app/second.js')!.uid, byName.get('app/second.js')!.modtime, byName.get('app/second.js')!.mode], [1000, '2023-11-14T22:13:20Z', 0o100640]);
    assert.ok(byName.has(ESTARGZ.prefetchLandmark), 'the landmark is in the TOC');
    assert.ok(!byName.has(ESTARGZ.toc), 'the TOC does not list itself');
  });

  test('deterministic; with nothing to prefetch, the no-prefetch landmark comes first', async () => {
    const [a, b] = [await write(3, 'again-a'), await write(3, 'again-b')];
    assert.equal(a.layer.blob.digest, b.layer.blob.digest);
    assert.equal(a.layer.tar.digest, b.layer.tar.digest);
    const none = await write(0, 'none');
    const names = (await readTarEntries(none.tar)).map((e) => e.header.name);
    assert.equal(names[0], ESTARGZ.noPrefetchLandmark);
    assert.ok(!names.includes(ESTARGZ.prefetchLandmark));
  });

  test('the footer is 51 bytes that name the TOC offset', () => {
    const footer = estargzFooter(0x1234abcd);
    assert.equal(footer.length, 51);
    assert.equal(parseEstargzFooter(footer), 0x1234abcd);
    assert.equal(gunzipSync(footer).length, 0, 'an empty gzip member');
    assert.equal(parseEstargzFooter(Buffer.alloc(51)), undefined);
  });
});

describe('prefetchOrder', () => {
  const entry = (path: string, type: 'file' | 'directory' = 'file', hardlinkTo?: string): PlannedEntry => ({
    path,
    record: { path: path.slice(1), type, size: 1, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 0 },
    group: 'system',
    rule: 'test',
    ...(hardlinkTo ? { hardlinkTo } : {}),
  });
  test('touched files in first-access order, each after its directories; the rest in path order', () => {
    const entries = [entry('/a', 'directory'), entry('/a/one'), entry('/a/two'), entry('/b', 'directory'), entry('/b/late'), entry('/b/link', 'file', '/b/late'), entry('/c')];
    const firstAt = new Map([['/a/two', 0.5], ['/b/late', 2], ['/a/one', 1], ['/b/link', 0.1]]);
    const { entries: ordered, prefetch } = prefetchOrder(entries, (p) => firstAt.get(p));
    assert.deepEqual(ordered.map((e) => e.path), ['/a', '/a/two', '/a/one', '/b', '/b/late', '/b/link', '/c']);
    assert.equal(prefetch, 5, 'the hardlink touched before its target waits for the rest');
  });
});

describe('prefetchRecords', () => {
  const entry = (path: string, type: 'file' | 'directory' = 'file'): PlannedEntry => ({ path, record: { path: path.slice(1), type, size: 1, mode: 0o644, uid: 0, gid: 0, mtime: 0, layer: 0 }, group: 'system', rule: 'test' });
  test('the files the run read, across layers, in first-access order: nerdctl record lines and a plain list', () => {
    const layers = [{ entries: [entry('/usr', 'directory'), entry('/usr/bin/node'), entry('/usr/lib/libc.so'), entry('/usr/share/unused')] }, { entries: [entry('/app', 'directory'), entry('/app/server.js')] }];
    const firstAt = new Map([['/usr/lib/libc.so', 0.02], ['/usr/bin/node', 0.01], ['/app/server.js', 0.3], ['/usr', 0], ['/app', 0.2]]);
    const records = prefetchRecords(layers, (p) => firstAt.get(p));
    assert.equal(records.jsonLines, ['{"path":"usr/bin/node","layerIndex":0}', '{"path":"usr/lib/libc.so","layerIndex":0}', '{"path":"app/server.js","layerIndex":1}', ''].join('\n'));
    assert.equal(records.list, '/usr/bin/node\n/usr/lib/libc.so\n/app/server.js\n');
  });
});

