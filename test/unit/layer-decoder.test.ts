import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { SlimError } from '../../src/errors.js';
import { checkLayerMediaType, describeLayer, detectCompression, LayerDataError, shortDigest } from '../../src/image/layer-decoder.js';
import { listLayer, type LayerListing } from '../../src/image/layer-listing.js';
import type { Layer } from '../../src/image/types.js';
import { buildTar, dir, file, gzip, sha256, zstd } from '../helpers/layers.js';

const GZIP_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD_TYPE = 'application/vnd.oci.image.layer.v1.tar+zstd';
const TAR_TYPE = 'application/vnd.oci.image.layer.v1.tar';

/** A Layer whose blob is `blob`, delivered in chunks of `chunk` bytes. */
function layerOf(blob: Buffer, fields: Partial<Pick<Layer, 'index' | 'diffId' | 'digest' | 'mediaType'>>, chunk = 64 * 1024): Layer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < blob.length; i += chunk) chunks.push(blob.subarray(i, i + chunk));
  return {
    index: fields.index ?? 0,
    diffId: fields.diffId ?? sha256(blob),
    digest: fields.digest,
    mediaType: fields.mediaType ?? 'application/x-tar',
    storedSize: blob.length,
    openBlob: () => Readable.from(chunks),
  };
}

function summary(l: LayerListing) {
  return l.entries.map((e) => `${e.type}:${e.path}:${e.size}:${e.mode.toString(8)}`);
}

function assertLayerError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SlimError, `expected a SlimError, got ${String(err)}`);
    assert.equal(err.exitCode, 3);
    assert.match(err.message, pattern);
    return true;
  };
}

let plain: Buffer;
let diffId: string;

before(async () => {
  // big enough (incompressible content) that the compressed blobs span several chunks
  const noise = Buffer.alloc(300_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  plain = await buildTar([dir('usr/'), file('usr/a.txt', 1234), { path: 'usr/noise.bin', content: noise }, { path: 'usr/l', type: 'symlink', linkTarget: 'a.txt' }]);
  diffId = sha256(plain);
});

describe('listLayer decoding', () => {
  test('plain, gzip and zstd blobs give the same listing', async () => {
    const gz = gzip(plain);
    const zst = zstd(plain);
    const listings = [
      await listLayer(layerOf(plain, { diffId, digest: diffId })),
      await listLayer(layerOf(gz, { diffId, digest: sha256(gz), mediaType: GZIP_TYPE })),
      await listLayer(layerOf(zst, { diffId, digest: sha256(zst), mediaType: ZSTD_TYPE })),
      // docker-archive layers carry no media type: compression is detected
      await listLayer(layerOf(gz, { diffId, mediaType: 'application/x-tar' })),
      await listLayer(layerOf(zst, { diffId, mediaType: 'application/x-tar' }, 1000)),
    ];
    const expected = ['directory:usr:0:755', 'file:usr/a.txt:1234:644', 'file:usr/noise.bin:300000:644', 'symlink:usr/l:0:644'];
    for (const [i, l] of listings.entries()) {
      assert.deepEqual(summary(l), expected, `listing ${i}`);
      assert.equal(l.tarBytes, plain.length, `listing ${i} counts uncompressed tar bytes`);
    }
  });

  test('onBytes reports the uncompressed bytes read', async () => {
    let seen = 0;
    await listLayer(layerOf(gzip(plain), { diffId, mediaType: GZIP_TYPE }), (n) => {
      seen += n;
    });
    assert.equal(seen, plain.length);
  });

  test('content that does not match the diff_id names the layer', async () => {
    const wrong = sha256('something else');
    await assert.rejects(
      listLayer(layerOf(gzip(plain), { index: 2, diffId: wrong, mediaType: GZIP_TYPE })),
      assertLayerError(new RegExp(`^layer 2 \\(${shortDigest(wrong)}\\)'s content does not match its digest`)),
    );
  });

  test('a stored blob that does not match its digest names the layer', async () => {
    const wrong = sha256('not the blob');
    await assert.rejects(
      listLayer(layerOf(gzip(plain), { index: 3, diffId, digest: wrong, mediaType: GZIP_TYPE })),
      (err: unknown) => {
        assertLayerError(/^layer 3 \([0-9a-f]{12}\)'s stored blob does not match its digest/)(err);
        assert.ok((err as Error).message.includes(`expected ${wrong}`));
        assert.ok(err instanceof LayerDataError);
        return true;
      },
    );
  });

  test('truncated gzip is reported as truncated or corrupt, naming the layer', async () => {
    const gz = gzip(plain);
    await assert.rejects(
      listLayer(layerOf(gz.subarray(0, Math.floor(gz.length / 2)), { index: 1, diffId, mediaType: GZIP_TYPE }, 4096)),
      assertLayerError(new RegExp(`^layer 1 \\(${shortDigest(diffId)}\\) is truncated or corrupt`)),
    );
  });

  test('truncated zstd fails and names the layer', async () => {
    const zst = zstd(plain);
    await assert.rejects(
      listLayer(layerOf(zst.subarray(0, Math.floor(zst.length / 2)), { index: 5, diffId, mediaType: ZSTD_TYPE })),
      assertLayerError(/^layer 5 \([0-9a-f]{12}\) is truncated or corrupt/),
    );
  });

  test('a media type declaring gzip over plain data is an error', async () => {
    await assert.rejects(
      listLayer(layerOf(plain, { index: 0, diffId, mediaType: GZIP_TYPE })),
      assertLayerError(/^layer 0 \([0-9a-f]{12}\) is declared gzip but its data is not compressed/),
    );
  });

  test('a media type declaring an uncompressed tar over zstd data is an error', async () => {
    await assert.rejects(
      listLayer(layerOf(zstd(plain), { diffId, mediaType: TAR_TYPE })),
      assertLayerError(/is declared none but its data is zstd/),
    );
  });

  test('data that is not a tar at all is reported as corrupt', async () => {
    const junk = Buffer.alloc(2048, 0x41);
    await assert.rejects(listLayer(layerOf(junk, { index: 4, mediaType: TAR_TYPE })), assertLayerError(/^layer 4 \([0-9a-f]{12}\) is truncated or corrupt/));
  });

  test('an empty blob is an empty layer', async () => {
    const empty = Buffer.alloc(0);
    const result = await listLayer(layerOf(empty, { diffId: sha256(empty), mediaType: TAR_TYPE }));
    assert.deepEqual(result.entries, []);
  });
});

describe('layer decoder helpers', () => {
  test('checkLayerMediaType accepts the OCI and Docker tar types and rejects others with exit code 3', () => {
    for (const type of [TAR_TYPE, GZIP_TYPE, ZSTD_TYPE, 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/x-tar']) {
      assert.doesNotThrow(() => checkLayerMediaType(type, 'layer 0'));
    }
    assert.throws(
      () => checkLayerMediaType('application/vnd.example.unknown', 'layer 7 in img'),
      (err: unknown) => {
        assert.ok(err instanceof SlimError);
        assert.equal(err.exitCode, 3);
        assert.equal(err.message, 'layer 7 in img has unsupported media type application/vnd.example.unknown');
        assert.ok(err.hint);
        return true;
      },
    );
  });

  test('detectCompression reads magic bytes', () => {
    assert.equal(detectCompression(gzip(Buffer.from('x'))), 'gzip');
    assert.equal(detectCompression(zstd(Buffer.from('x'))), 'zstd');
    assert.equal(detectCompression(Buffer.from('plain tar header')), 'none');
    assert.equal(detectCompression(Buffer.from([0x1f])), 'none');
  });

  test('describeLayer names the index and a 12-character digest', () => {
    assert.equal(describeLayer({ index: 3, diffId: `sha256:${'ab'.repeat(32)}` }), 'layer 3 (abababababab)');
  });
});
