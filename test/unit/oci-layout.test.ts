import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SlimError } from '../../src/errors.js';
import { DirectoryArchiveFiles } from '../../src/image/archive-files.js';
import { listLayer } from '../../src/image/layer-listing.js';
import { readOciLayout } from '../../src/image/oci-layout.js';
import { openImage } from '../../src/image/open-image.js';
import { imageConfig, OCI_MANIFEST, OciLayoutBuilder, ociLayout, tempDir, writeArchiveDir, writeArchiveTar, type ImageSpec } from '../helpers/images.js';
import { buildTar, dir, file, gzip, sha256 } from '../helpers/layers.js';

let tmp: { path: string; remove(): Promise<void> };
let n = 0;
const next = (name: string) => join(tmp.path, `${n++}-${name}`);
let amd64: ImageSpec;
let arm64: ImageSpec;

before(async () => {
  tmp = await tempDir();
  amd64 = {
    layers: [await buildTar([dir('lib/'), file('lib/x86_64.so', 64)]), await buildTar([file('app/run', 10)])],
    history: [{ created_by: 'ADD rootfs' }, { created_by: 'LABEL a=b', empty_layer: true }, { created_by: 'COPY run' }],
  };
  arm64 = { layers: [await buildTar([file('lib/aarch64.so', 64)])], architecture: 'arm64' };
});
after(async () => {
  await tmp.remove();
});

function inputErrorMatching(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SlimError, `expected a SlimError, got ${String(err)}`);
    assert.equal(err.exitCode, 3);
    assert.match(err.message, pattern);
    return true;
  };
}

function platformIndex(builder: OciLayoutBuilder, entries: Array<[ImageSpec, string]>) {
  return builder.index(
    entries.map(([spec, arch]) => ({
      ...builder.manifest(spec),
      platform: arch === 'arm64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: arch },
    })),
  );
}

describe('OCI image layout', () => {
  test('reads an OCI layout directory', async () => {
    const path = await writeArchiveDir(next('oci'), ociLayout(amd64, { refName: 'v1' }));
    const image = await openImage(path);
    try {
      const config = imageConfig(amd64);
      assert.equal(image.source, 'oci');
      assert.equal(image.id, config.digest);
      assert.deepEqual(image.repoTags, ['v1']);
      assert.deepEqual(
        image.layers.map((l) => [l.index, l.diffId, l.digest, l.mediaType, l.storedSize]),
        amd64.layers.map((layer, i) => [i, sha256(layer), sha256(gzip(layer)), 'application/vnd.oci.image.layer.v1.tar+gzip', gzip(layer).length]),
      );
      assert.deepEqual(
        image.layers.map((l) => l.createdBy),
        ['ADD rootfs', 'COPY run'],
      );
      const listing = await listLayer(image.layers[0]!);
      assert.deepEqual(
        listing.entries.map((e) => e.path),
        ['lib', 'lib/x86_64.so'],
      );
    } finally {
      await image.close();
    }
  });

  test('reads an OCI layout tar with zstd and uncompressed layers', async () => {
    for (const compression of ['zstd', 'none'] as const) {
      const path = await writeArchiveTar(next(`oci-${compression}.tar`), ociLayout(amd64, { compression }));
      const image = await openImage(`oci:${path}`);
      try {
        assert.equal(image.id, imageConfig(amd64).digest);
        const listing = await listLayer(image.layers[1]!);
        assert.deepEqual(
          listing.entries.map((e) => `${e.path}:${e.size}`),
          ['app/run:10'],
          compression,
        );
      } finally {
        await image.close();
      }
    }
  });

  test('follows a nested image index to linux/amd64 among arm64 and amd64', async () => {
    const builder = new OciLayoutBuilder();
    const index = platformIndex(builder, [
      [arm64, 'arm64'],
      [amd64, 'amd64'],
    ]);
    const path = await writeArchiveDir(next('multi-arch'), builder.finish([{ ...index, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }]));
    const image = await openImage(path);
    try {
      assert.equal(image.id, imageConfig(amd64).digest);
      assert.equal(image.config.architecture, 'amd64');
      assert.deepEqual(image.repoTags, ['latest']);
      assert.equal(image.layers.length, 2);
    } finally {
      await image.close();
    }
  });

  test('platform manifests listed directly in index.json are one multi-platform image', async () => {
    const builder = new OciLayoutBuilder();
    const top = [
      { ...builder.manifest(arm64), platform: { os: 'linux', architecture: 'arm64' } },
      { ...builder.manifest(amd64), platform: { os: 'linux', architecture: 'amd64' } },
      // docker's attestation manifests carry no usable platform and are skipped
      { ...builder.manifest(arm64), platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
    ];
    const image = await openImage(await writeArchiveDir(next('flat-multi-arch'), builder.finish(top)));
    try {
      assert.equal(image.id, imageConfig(amd64).digest);
    } finally {
      await image.close();
    }
  });

  test('an index with only linux/arm64 is an error naming what it has', async () => {
    const builder = new OciLayoutBuilder();
    const index = platformIndex(builder, [[arm64, 'arm64']]);
    const path = await writeArchiveDir(next('arm-only'), builder.finish([index]));
    await assert.rejects(openImage(path), (err: unknown) => {
      inputErrorMatching(/no linux\/amd64 entry \(it has linux\/arm64\/v8\)/)(err);
      assert.match((err as SlimError).hint ?? '', /amd64/);
      return true;
    });
  });

  test('a manifest blob whose content does not match its digest is an error', async () => {
    const contents = ociLayout(amd64);
    const index = JSON.parse(contents.get('index.json')!.toString()) as { manifests: Array<{ digest: string }> };
    const blob = `blobs/sha256/${index.manifests[0]!.digest.slice('sha256:'.length)}`;
    const manifest = JSON.parse(contents.get(blob)!.toString()) as { layers: unknown[] };
    manifest.layers.reverse();
    contents.set(blob, Buffer.from(JSON.stringify(manifest)));
    const path = await writeArchiveDir(next('tampered-manifest'), contents);
    await assert.rejects(openImage(path), inputErrorMatching(/image manifest in .* does not match its digest sha256:[0-9a-f]{64}/));
  });

  test('a layer with an unknown media type is an error', async () => {
    const builder = new OciLayoutBuilder();
    const manifest = builder.manifest(amd64, { layerMediaType: 'application/vnd.example.unknown' });
    const path = await writeArchiveDir(next('unknown-type'), builder.finish([manifest]));
    await assert.rejects(openImage(path), inputErrorMatching(/layer 0 in .* has unsupported media type application\/vnd\.example\.unknown/));
  });

  test('a missing layer blob is an error', async () => {
    const contents = ociLayout(amd64);
    contents.delete(`blobs/sha256/${sha256(gzip(amd64.layers[1]!)).slice('sha256:'.length)}`);
    const path = await writeArchiveTar(next('missing-layer.tar'), contents);
    await assert.rejects(openImage(path), inputErrorMatching(/is missing layer 1 \(sha256:[0-9a-f]{64}\)/));
  });

  test('several named images need a ref; oci:PATH:REF picks one', async () => {
    const builder = new OciLayoutBuilder();
    const first = { ...builder.manifest(arm64), annotations: { 'org.opencontainers.image.ref.name': 'v1' } };
    const second = { ...builder.manifest(amd64), annotations: { 'org.opencontainers.image.ref.name': 'v2' } };
    const path = await writeArchiveDir(next('named'), builder.finish([first, second]));
    await assert.rejects(openImage(path), inputErrorMatching(/holds 2 images; name one as oci:.*:REF/));
    const image = await openImage(`oci:${path}:v2`);
    try {
      assert.equal(image.id, imageConfig(amd64).digest);
      assert.deepEqual(image.repoTags, ['v2']);
    } finally {
      await image.close();
    }
    await assert.rejects(openImage(`oci:${path}:v3`), inputErrorMatching(/has no image named v3/));
  });

  test('a manifest whose layer count differs from the config diff_ids is an error', async () => {
    const builder = new OciLayoutBuilder();
    const manifest = builder.manifest({ ...amd64, diffIds: [sha256(amd64.layers[0]!)] });
    const path = await writeArchiveDir(next('count'), builder.finish([manifest]));
    await assert.rejects(openImage(path), inputErrorMatching(/lists 2 layers but its config has 1 diff_ids/));
  });

  test('a directory without oci-layout is not an OCI layout', async () => {
    const contents = ociLayout(amd64);
    contents.delete('oci-layout');
    const path = await writeArchiveDir(next('no-marker'), contents);
    await assert.rejects(readOciLayout(new DirectoryArchiveFiles(path), { reference: path }), inputErrorMatching(/is not an OCI image layout/));
  });

  test('a top-level descriptor of an unsupported media type is an error', async () => {
    const builder = new OciLayoutBuilder();
    const manifest = builder.manifest(amd64);
    const path = await writeArchiveDir(next('bad-top-type'), builder.finish([{ ...manifest, mediaType: 'application/json' }]));
    await assert.rejects(openImage(path), inputErrorMatching(/has a manifest of unsupported media type application\/json/));
    assert.equal(manifest.mediaType, OCI_MANIFEST);
  });
});
