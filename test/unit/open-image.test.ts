import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SlimError } from '../../src/errors.js';
import { listLayer } from '../../src/image/layer-listing.js';
import { openImage, parseImageLocation } from '../../src/image/open-image.js';
import { dockerArchive, imageConfig, ociLayout, tempDir, writeArchiveDir, writeArchiveTar, type ImageSpec } from '../helpers/images.js';
import { buildTar, file, gzip } from '../helpers/layers.js';

let tmp: { path: string; remove(): Promise<void> };
let spec: ImageSpec;
let archive: string;

before(async () => {
  tmp = await tempDir();
  spec = { layers: [await buildTar([file('etc/hostname', 8)]), await buildTar([file('srv/app.bin', 2048)])], repoTags: ['demo:latest'] };
  archive = await writeArchiveTar(join(tmp.path, 'demo.tar'), dockerArchive([spec]));
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

describe('parseImageLocation', () => {
  test('transports, paths and daemon references', async () => {
    assert.deepEqual(await parseImageLocation(`docker-archive:${archive}`), { kind: 'docker-archive', path: archive, tag: undefined });
    assert.deepEqual(await parseImageLocation(`docker-archive:${archive}:demo`), { kind: 'docker-archive', path: archive, tag: 'demo' });
    assert.deepEqual(await parseImageLocation('docker-archive:/no/such/image.tar:web'), { kind: 'docker-archive', path: '/no/such/image.tar', tag: 'web' });
    assert.deepEqual(await parseImageLocation(`oci:${tmp.path}:v1`), { kind: 'oci', path: tmp.path, ref: 'v1' });
    assert.deepEqual(await parseImageLocation(`oci:${tmp.path}`), { kind: 'oci', path: tmp.path, ref: undefined });
    assert.deepEqual(await parseImageLocation('oci-archive:/x/img.tar:stable'), { kind: 'oci', path: '/x/img.tar', ref: 'stable' });
    assert.deepEqual(await parseImageLocation('docker-daemon:alpine:3.20'), { kind: 'daemon', reference: 'alpine:3.20' });
    assert.deepEqual(await parseImageLocation(archive), { kind: 'path', path: archive });
    assert.deepEqual(await parseImageLocation('./relative.tar'), { kind: 'path', path: './relative.tar' });
    assert.deepEqual(await parseImageLocation('/abs/missing.tar'), { kind: 'path', path: '/abs/missing.tar' });
    assert.deepEqual(await parseImageLocation('alpine:3.20'), { kind: 'daemon', reference: 'alpine:3.20' });
    assert.deepEqual(await parseImageLocation('ghcr.io/org/app@sha256:abc'), { kind: 'daemon', reference: 'ghcr.io/org/app@sha256:abc' });
  });

  test('a path that exists wins even when it contains a colon', async () => {
    const colonPath = join(tmp.path, 'with:colon.tar');
    await writeFile(colonPath, 'x');
    assert.deepEqual(await parseImageLocation(`docker-archive:${colonPath}`), { kind: 'docker-archive', path: colonPath, tag: undefined });
  });
});

describe('openImage', () => {
  test('opens a gzip-compressed docker-archive and removes its temporary copy on close', async () => {
    const gzPath = join(tmp.path, 'demo.tar.gz');
    await writeFile(gzPath, gzip(await readFile(archive)));
    const spool = join(tmp.path, 'spool');
    await mkdir(spool);
    const previous = process.env.SLIM_TMPDIR;
    process.env.SLIM_TMPDIR = spool;
    try {
      const image = await openImage(gzPath);
      assert.equal((await readdir(spool)).length, 1, 'the archive was decompressed to a temporary directory');
      try {
        assert.equal(image.source, 'docker-archive');
        assert.equal(image.id, imageConfig(spec).digest);
        assert.deepEqual(image.repoTags, ['demo:latest']);
        const listing = await listLayer(image.layers[1]!);
        assert.deepEqual(
          listing.entries.map((e) => `${e.path}:${e.size}`),
          ['srv/app.bin:2048'],
        );
      } finally {
        await image.close();
      }
      assert.deepEqual(await readdir(spool), [], 'close() removed the temporary copy');
    } finally {
      if (previous === undefined) delete process.env.SLIM_TMPDIR;
      else process.env.SLIM_TMPDIR = previous;
    }
  });

  test('detects an OCI layout given as a plain path', async () => {
    const dir = await writeArchiveDir(join(tmp.path, 'oci-plain'), ociLayout(spec));
    const image = await openImage(dir);
    try {
      assert.equal(image.source, 'oci');
    } finally {
      await image.close();
    }
  });

  test('a tar with neither manifest.json nor oci-layout is not an image', async () => {
    const path = join(tmp.path, 'not-image.tar');
    await writeFile(path, await buildTar([file('hello.txt', 5), file('dir/x', 1)]));
    await assert.rejects(openImage(path), (err: unknown) => {
      inputErrorMatching(/is not an image: it is neither a docker-archive \(manifest\.json\) nor an OCI layout/)(err);
      assert.match((err as SlimError).hint ?? '', /docker save/);
      return true;
    });
  });

  test('a path that does not exist is an input error', async () => {
    const path = join(tmp.path, 'nope.tar');
    await assert.rejects(openImage(path), inputErrorMatching(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist`)));
  });

  test('a file that is neither tar nor gzip is reported as not a tar archive', async () => {
    const path = join(tmp.path, 'notes.txt');
    await writeFile(path, 'just some text\n'.repeat(100));
    await assert.rejects(openImage(path), inputErrorMatching(/not a tar archive/));
  });

  test('a corrupt gzip file is an input error', async () => {
    const path = join(tmp.path, 'broken.tar.gz');
    const gz = gzip(await readFile(archive));
    await writeFile(path, gz.subarray(0, Math.floor(gz.length / 2)));
    await assert.rejects(openImage(path), inputErrorMatching(/is a corrupt gzip file/));
  });
});
