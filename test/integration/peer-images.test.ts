import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ImageAnalysis } from '../../src/analyze/analysis.js';
import { PEER_IMAGES, slim } from './support.js';

const DIVE = join(PEER_IMAGES, 'dive');

async function analyze(file: string): Promise<ImageAnalysis> {
  const result = await slim(['analyze', join(DIVE, file), '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as ImageAnalysis;
}

describe('images written by other tools (../shared/peer-images)', () => {
  test('the peer images are present', () => {
    assert.ok(existsSync(DIVE), `${DIVE} is missing: the checkout must sit beside shared/`);
  });

  test('dive test image: the same efficiency and wasted bytes as dive reports', async () => {
    // dive's own test (dive/image/docker/image_archive_analysis_test.go) asserts these figures
    const a = await analyze('test-docker-image.tar');
    assert.equal(a.efficiency, 0.9844212134184309);
    assert.equal(a.totalBytes, 1220598);
    assert.equal(a.wastedBytes, 32025);
    assert.equal(a.userWastedPercent, 0.4834911001404049);
    assert.equal(a.layers.length, 14);
    assert.equal(a.layers.slice(1).reduce((s, l) => s + l.bytes, 0), 66237);
  });

  test('kaniko tarball with gzip layers', async () => {
    const a = await analyze('test-kaniko-image.tar');
    assert.ok(a.layers.length > 1);
    assert.ok(a.visibleBytes > 0);
    assert.ok(a.largest.files.some((f) => f.path.startsWith('/bin/')));
  });

  test('OCI layouts with uncompressed, gzip and zstd layers describe the same files', async () => {
    const plain = await analyze('test-oci-uncompressed-image.tar');
    const gzip = await analyze('test-oci-gzip-image.tar');
    const zstd = await analyze('test-oci-zstd-image.tar');
    assert.equal(plain.image.source, 'oci');
    assert.match(gzip.layers[0]!.mediaType, /gzip$/);
    assert.match(zstd.layers[0]!.mediaType, /zstd$/);
    for (const other of [gzip, zstd]) {
      assert.equal(other.visibleBytes, plain.visibleBytes);
      assert.deepEqual(other.largest.files, plain.largest.files);
    }
  });

  test('eStargz layers read as gzip, with the table of contents visible as a file', async () => {
    const a = await analyze('test-oci-estargz-image.tar');
    assert.ok(a.largest.files.some((f) => f.path === '/stargz.index.json'));
  });
});
