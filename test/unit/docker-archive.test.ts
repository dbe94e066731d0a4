import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SlimError } from '../../src/errors.js';
import { DirectoryArchiveFiles, TarArchiveFiles } from '../../src/image/archive-files.js';
import { readDockerArchive } from '../../src/image/docker-archive.js';
import { listLayer } from '../../src/image/layer-listing.js';
import { openImage } from '../../src/image/open-image.js';
import type { Image } from '../../src/image/types.js';
import { dockerArchive, imageConfig, tempDir, writeArchiveDir, writeArchiveTar, type ImageSpec } from '../helpers/images.js';
import { buildTar, dir, file, sha256 } from '../helpers/layers.js';

let tmp: { path: string; remove(): Promise<void> };
let n = 0;
const next = (name: string) => join(tmp.path, `${n++}-${name}`);
let base: Buffer;
let app: Buffer;
let spec: ImageSpec;

before(async () => {
  tmp = await tempDir();
  base = await buildTar([dir('bin/'), file('bin/sh', 300), file('etc/os-release', 40)]);
  app = await buildTar([dir('app/'), file('app/server.js', 120)]);
  spec = {
    layers: [base, app],
    repoTags: ['example/app:1.0'],
    history: [
      { created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
      { created_by: '/bin/sh -c #(nop) ENV A=1', empty_layer: true },
      { created_by: '/bin/sh -c #(nop) CMD ["sh"]', empty_layer: true },
      { created_by: 'COPY server.js /app/' },
    ],
  };
});
after(async () => {
  await tmp.remove();
});

function inputErrorMatching(pattern: RegExp, hint?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SlimError, `expected a SlimError, got ${String(err)}`);
    assert.equal(err.exitCode, 3);
    assert.match(err.message, pattern);
    if (hint) assert.match(err.hint ?? '', hint);
    return true;
  };
}

async function checkImage(image: Image) {
  const config = imageConfig(spec);
  assert.equal(image.source, 'docker-archive');
  assert.equal(image.id, config.digest);
  assert.deepEqual(image.repoTags, ['example/app:1.0']);
  assert.deepEqual(image.rawConfig, config.raw);
  assert.equal(image.config.architecture, 'amd64');
  assert.deepEqual(
    image.layers.map((l) => [l.index, l.diffId, l.mediaType, l.storedSize]),
    [
      [0, sha256(base), 'application/x-tar', base.length],
      [1, sha256(app), 'application/x-tar', app.length],
    ],
  );
  assert.deepEqual(
    image.layers.map((l) => l.createdBy),
    ['/bin/sh -c #(nop) ADD file:abc in / ', 'COPY server.js /app/'],
    'history entries marked empty_layer are skipped',
  );
  const listings = await Promise.all(image.layers.map((l) => listLayer(l)));
  assert.deepEqual(
    listings.map((l) => l.entries.map((e) => e.path)),
    [['bin', 'bin/sh', 'etc/os-release'], ['app', 'app/server.js']],
  );
}

describe('docker-archive', () => {
  test('reads a docker save tar', async () => {
    const path = await writeArchiveTar(next('image.tar'), dockerArchive([spec]));
    const image = await openImage(path);
    try {
      await checkImage(image);
      assert.equal(image.reference, path);
      assert.equal(image.layers[0]!.digest, undefined, 'legacy layer paths name no blob digest');
    } finally {
      await image.close();
    }
  });

  test('reads an extracted docker save directory', async () => {
    const path = await writeArchiveDir(next('image-dir'), dockerArchive([spec]));
    const image = await openImage(`docker-archive:${path}`);
    try {
      await checkImage(image);
    } finally {
      await image.close();
    }
  });

  test('reads the docker 25+ layout (blobs/sha256) and takes the blob digest from the path', async () => {
    const path = await writeArchiveTar(next('blobs.tar'), dockerArchive([spec], { layout: 'blobs' }));
    const image = await openImage(path);
    try {
      await checkImage(image);
      assert.deepEqual(
        image.layers.map((l) => l.digest),
        [sha256(base), sha256(app)],
      );
    } finally {
      await image.close();
    }
  });

  test('layers docker save stores once and links are read through the symlink', async () => {
    const twice: ImageSpec = { layers: [base, app, base] };
    const contents = dockerArchive([twice], { linkDuplicates: true });
    assert.deepEqual(contents.get('img0-layer2/layer.tar'), { symlink: '../img0-layer0/layer.tar' });
    for (const path of [await writeArchiveTar(next('linked.tar'), contents), await writeArchiveDir(next('linked-dir'), contents)]) {
      const image = await openImage(path);
      try {
        assert.equal(image.layers[2]!.storedSize, base.length, path);
        const listing = await listLayer(image.layers[2]!);
        assert.deepEqual(
          listing.entries.map((e) => e.path),
          ['bin', 'bin/sh', 'etc/os-release'],
          path,
        );
      } finally {
        await image.close();
      }
    }
  });

  test('an archive of several images needs a tag, and the error lists the tags', async () => {
    const other: ImageSpec = { layers: [base], repoTags: ['other:latest', 'registry.local:5000/team/other:latest'] };
    const path = await writeArchiveTar(next('multi.tar'), dockerArchive([spec, other]));
    await assert.rejects(
      openImage(path),
      inputErrorMatching(/holds 2 images; name one as docker-archive:.*:TAG/, /it holds: example\/app:1\.0, other:latest, registry\.local:5000\/team\/other:latest/),
    );
    const byTag = await openImage(`docker-archive:${path}:other`);
    try {
      assert.equal(byTag.id, imageConfig(other).digest);
      assert.equal(byTag.layers.length, 1);
      assert.equal(byTag.reference, `docker-archive:${path}:other`);
    } finally {
      await byTag.close();
    }
    const files = await TarArchiveFiles.open(path);
    const full = await readDockerArchive(files, { reference: 'x', tag: 'example/app:1.0' });
    assert.equal(full.id, imageConfig(spec).digest);
    const suffix = await readDockerArchive(files, { reference: 'x', tag: 'team/other:latest' });
    assert.equal(suffix.id, imageConfig(other).digest, 'a tag matches the end of a registry-qualified name');
    const byConfig = await readDockerArchive(files, { reference: 'x', configDigest: imageConfig(other).digest });
    assert.equal(byConfig.id, imageConfig(other).digest);
    await assert.rejects(
      readDockerArchive(files, { reference: 'x', tag: 'nope' }),
      inputErrorMatching(/holds no image tagged nope/, /it holds: example\/app:1\.0/),
    );
  });

  test(
    'docker-archive:PATH:NAME:TAG picks the image tagged NAME:TAG',
    async () => {
      const v1: ImageSpec = { layers: [base], repoTags: ['app:v1'] };
      const v2: ImageSpec = { layers: [base, app], repoTags: ['app:v2'] };
      const path = await writeArchiveTar(next('tags.tar'), dockerArchive([v1, v2]));
      const image = await openImage(`docker-archive:${path}:app:v2`);
      try {
        assert.equal(image.id, imageConfig(v2).digest);
      } finally {
        await image.close();
      }
    },
  );

  test('a missing layer file is a clear error', async () => {
    const contents = dockerArchive([spec]);
    contents.delete('img0-layer1/layer.tar');
    const path = await writeArchiveTar(next('missing.tar'), contents);
    await assert.rejects(openImage(path), inputErrorMatching(/is missing layer 1 \(img0-layer1\/layer\.tar\)/));
  });

  test('a layer count that differs from the diff_ids is an error', async () => {
    const contents = dockerArchive([{ ...spec, diffIds: [sha256(base), sha256(app), sha256('third')] }]);
    const path = await writeArchiveDir(next('count-dir'), contents);
    await assert.rejects(openImage(path), inputErrorMatching(/manifest\.json in .* lists 2 layers but its config has 3 diff_ids/));
  });

  test('malformed manifest.json and config are input errors', async () => {
    const notJson = dockerArchive([spec]);
    notJson.set('manifest.json', Buffer.from('[{"Config": '));
    await assert.rejects(openImage(await writeArchiveDir(next('bad-json'), notJson)), inputErrorMatching(/manifest\.json in .* is not valid JSON/));

    const empty = dockerArchive([spec]);
    empty.set('manifest.json', Buffer.from('[]'));
    await assert.rejects(openImage(await writeArchiveDir(next('empty-manifest'), empty)), inputErrorMatching(/lists no image/));

    const noDiffIds = dockerArchive([{ ...spec, diffIds: ['not-a-digest', sha256(app)] }]);
    await assert.rejects(openImage(await writeArchiveDir(next('bad-diffids'), noDiffIds)), inputErrorMatching(/has no valid rootfs\.diff_ids/));
  });

  test('paths in manifest.json cannot reach outside an archive directory', async () => {
    // a valid config right beside the archive directory
    await writeArchiveDir(tmp.path, new Map([['secret.json', imageConfig(spec).raw]]));
    const contents = dockerArchive([spec]);
    const manifest = JSON.parse(contents.get('manifest.json')!.toString()) as Array<{ Config: string }>;
    manifest[0]!.Config = '../secret.json';
    contents.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
    const path = await writeArchiveDir(next('escape'), contents);
    await assert.rejects(openImage(path), inputErrorMatching(/has no file \.\.\/secret\.json/));
  });

  test('a directory without manifest.json is not a docker-archive', async () => {
    const path = await writeArchiveDir(next('nothing'), new Map([['README', Buffer.from('hi')]]));
    await assert.rejects(
      readDockerArchive(new DirectoryArchiveFiles(path), { reference: path }),
      inputErrorMatching(/is not a docker-archive: it has no manifest\.json/),
    );
  });

  test('a corrupt layer in an archive is reported with its index when listed', async () => {
    const contents = dockerArchive([spec]);
    const tampered = Buffer.from(app);
    tampered[1100] = tampered[1100]! ^ 0xff; // flips a byte of server.js content (its data starts at 1024)
    contents.set('img0-layer1/layer.tar', tampered);
    const image = await openImage(await writeArchiveTar(next('tampered.tar'), contents));
    try {
      await assert.rejects(listLayer(image.layers[1]!), inputErrorMatching(/^layer 1 \([0-9a-f]{12}\)'s content does not match its digest/));
    } finally {
      await image.close();
    }
  });
});
