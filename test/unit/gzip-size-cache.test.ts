import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { GzipSizeCache } from '../../src/image/gzip-size-cache.js';
import { gzipSize } from '../../src/image/layer-writer.js';
import type { Layer } from '../../src/image/types.js';
import { sha256 } from '../helpers/layers.js';

const content = Buffer.from('a layer tar, as far as gzip cares '.repeat(200));

function layer(openBlob: () => Readable): Layer {
  return { index: 0, diffId: sha256(content), mediaType: 'application/vnd.oci.image.layer.v1.tar', storedSize: content.length, openBlob };
}

describe('GzipSizeCache', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'gzip-size-cache-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('a layer is measured once: the second time its size comes from the cache, its blob unread', async () => {
    const cache = new GzipSizeCache(root);
    const measured = await cache.layerSize(layer(() => Readable.from([content])));
    assert.equal(measured, await gzipSize(Readable.from([content])));
    const again = await cache.layerSize(layer(() => assert.fail('the blob was read again')));
    assert.equal(again, measured);
  });

  test('entries are kept per zlib version, named by the diff_id', async () => {
    const cache = new GzipSizeCache(root);
    await cache.put(sha256(Buffer.from('x')), 12);
    const [dir] = await readdir(join(root, 'gzip-size'));
    assert.equal(dir, `1-zlib-${process.versions.zlib}`);
    assert.ok((await readdir(join(root, 'gzip-size', dir!))).includes(sha256(Buffer.from('x')).slice(7)));
  });

  test('a damaged entry is a miss, and a key that is not a sha256 is never written', async () => {
    const cache = new GzipSizeCache(root);
    const key = sha256(Buffer.from('damaged'));
    await cache.put(key, 99);
    await writeFile(join(root, 'gzip-size', `1-zlib-${process.versions.zlib}`, key.slice(7)), 'not a number\n');
    assert.equal(await cache.get(key), undefined);
    await cache.put('sha256:../../escape', 5);
    assert.equal(await cache.get('sha256:../../escape'), undefined);
  });

  test('an unwritable cache only costs the measurement again', async () => {
    await writeFile(join(root, 'blocker'), '');
    const cache = new GzipSizeCache(join(root, 'blocker'));
    assert.equal(await cache.layerSize(layer(() => Readable.from([content]))), await gzipSize(Readable.from([content])));
  });
});
