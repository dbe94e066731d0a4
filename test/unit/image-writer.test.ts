import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { readLayerListings } from '../../src/analyze/read-layers.js';
import { sourceDateEpoch } from '../../src/build/layer-contents.js';
import { parseOutput } from '../../src/build/outputs.js';
import { ociDestination } from '../../src/image/sinks/index.js';
import { defaultSlimTag, requireValidTag } from '../../src/build/slim-tag.js';
import { SlimError } from '../../src/errors.js';
import { FileIndex } from '../../src/image/file-index.js';
import { assembleImage, manifestOf, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, type AssembledImage, type NewLayer } from '../../src/image/image-writer.js';
import { writeDockerArchiveFile } from '../../src/image/sinks/docker-archive.js';
import { writeOciLayout } from '../../src/image/sinks/oci-layout.js';
import type { LayerListing } from '../../src/image/layer-listing.js';
import { writeLayer, type TarEntrySpec, type WrittenLayer } from '../../src/image/layer-writer.js';
import { openImage } from '../../src/image/open-image.js';
import { IndexImageFs, materializeContents } from '../../src/image/rootfs.js';
import type { Image } from '../../src/image/types.js';
import { tempDir } from '../helpers/images.js';
import { sha256 } from '../helpers/layers.js';
import { readTarEntries } from '../helpers/tar-read.js';

const execFileAsync = promisify(execFile);
const silent = { update: () => undefined, done: () => undefined };
const SKOPEO = '/usr/bin/skopeo';
const UMOCI = '/usr/bin/umoci';

let tmp: { path: string; remove(): Promise<void> };
let n = 0;
const next = (name: string) => join(tmp.path, `${n++}-${name}`);

const CONTENT = {
  osRelease: 'ID=debian\nVERSION_ID=12\n',
  tool: '#!/bin/sh\necho tool\n',
  server: 'require("http").createServer().listen(8080);\n',
};

/** The original image's config, with every kind of field slim must keep, drop or replace. */
function originalConfig(): Record<string, unknown> {
  return {
    architecture: 'arm64',
    os: 'linux',
    variant: 'v8',
    created: '2024-05-01T12:00:00Z',
    author: 'someone <someone@example.com>',
    container: '3f1e2d',
    container_config: { Cmd: ['/bin/sh', '-c', 'npm ci'], Hostname: '3f1e2d' },
    docker_version: '24.0.7',
    parent: 'sha256:0000000000000000000000000000000000000000000000000000000000000000',
    id: 'abc',
    config: {
      Hostname: '',
      User: '1000:1000',
      ExposedPorts: { '8080/tcp': {}, '9090/udp': {} },
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production', 'EMPTY='],
      Entrypoint: ['/usr/bin/tool'],
      Cmd: ['node', 'server.js'],
      Volumes: { '/data': {} },
      WorkingDir: '/app',
      Labels: { 'org.opencontainers.image.title': 'demo', 'io.slim.version': 'stale' },
      StopSignal: 'SIGQUIT',
      Healthcheck: { Test: ['CMD', '/usr/bin/tool', 'health'], Interval: 30_000_000_000, Retries: 3 },
      OnBuild: null,
      ArgsEscaped: true,
      Shell: ['/bin/bash', '-c'],
      'x-unknown': { nested: [1, { deeper: true }] },
    },
    rootfs: { type: 'layers', diff_ids: ['sha256:1111111111111111111111111111111111111111111111111111111111111111'] },
    history: [{ created_by: 'FROM debian', empty_layer: false }, { created_by: 'ENV X=1', empty_layer: true }],
    'moby.buildkit.buildinfo.v1': 'e30=',
  };
}

const LABELS = { 'io.slim.source-image': 'sha256:2222222222222222222222222222222222222222222222222222222222222222', 'io.slim.version': '0.1.0' };

let contentFiles: Record<keyof typeof CONTENT, string>;
let layerSpecs: TarEntrySpec[][];
let layers: NewLayer[];
let image: AssembledImage;

async function writeLayers(): Promise<NewLayer[]> {
  const written: WrittenLayer[] = [];
  for (const [i, specs] of layerSpecs.entries()) {
    const dir = next(`layer${i}`);
    await mkdir(dir);
    written.push(await writeLayer(specs, join(dir, 'layer.tar'), join(dir, 'layer.tar.gz')));
  }
  return [
    { written: written[0]!, createdBy: 'slim build: system and runtime', comment: '3 files, 51 bytes kept from sha256:2222' },
    { written: written[1]!, createdBy: 'slim build: application code', comment: '2 files, 90 bytes kept from sha256:2222' },
  ];
}

before(async () => {
  tmp = await tempDir();
  const contentDir = next('contents');
  await mkdir(contentDir);
  contentFiles = { osRelease: '', tool: '', server: '' };
  for (const [name, text] of Object.entries(CONTENT) as Array<[keyof typeof CONTENT, string]>) {
    contentFiles[name] = join(contentDir, name);
    await writeFile(contentFiles[name], text);
  }
  const base = { uid: 0, gid: 0, mtime: 0 };
  layerSpecs = [
    [
      { ...base, path: 'etc', type: 'directory', mode: 0o755 },
      { ...base, path: 'etc/os-release', type: 'file', mode: 0o644, contentFile: contentFiles.osRelease },
      { ...base, path: 'usr', type: 'directory', mode: 0o755 },
      { ...base, path: 'usr/bin', type: 'directory', mode: 0o755 },
      { ...base, path: 'usr/bin/alias', type: 'symlink', mode: 0o777, linkTarget: 'tool' },
      { ...base, path: 'usr/bin/tool', type: 'file', mode: 0o755, contentFile: contentFiles.tool },
    ],
    [
      { path: 'app', type: 'directory', mode: 0o750, uid: 1000, gid: 1000, mtime: 0 },
      { path: 'app/server.js', type: 'file', mode: 0o644, uid: 1000, gid: 1000, mtime: 1_700_000_000, contentFile: contentFiles.server },
      { path: 'app/sibling.js', type: 'hardlink', mode: 0o644, uid: 1000, gid: 1000, mtime: 1_700_000_000, linkTarget: 'app/server.js' },
    ],
  ];
  layers = await writeLayers();
  image = assembleImage(originalConfig(), layers, LABELS);
});
after(async () => {
  await tmp.remove();
});

function parsedConfig(assembled: AssembledImage = image): Record<string, unknown> & { config: Record<string, unknown> } {
  return JSON.parse(assembled.rawConfig.toString()) as Record<string, unknown> & { config: Record<string, unknown> };
}

describe('assembleImage', () => {
  test('carries the runtime settings over exactly, unknown fields included, and adds the labels', () => {
    const original = originalConfig().config as Record<string, unknown>;
    const config = parsedConfig().config;
    for (const key of ['Entrypoint', 'Cmd', 'Env', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'OnBuild', 'ArgsEscaped', 'Shell', 'Hostname', 'x-unknown']) {
      assert.deepEqual(config[key], original[key], key);
    }
    assert.deepEqual(config.Labels, {
      'org.opencontainers.image.title': 'demo',
      'io.slim.version': '0.1.0',
      'io.slim.source-image': LABELS['io.slim.source-image'],
    });
    assert.deepEqual(config, { ...original, Labels: config.Labels }, 'nothing else added or lost');
  });

  test('keeps the platform and other top-level fields, drops the build-only ones', () => {
    const config = parsedConfig();
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.os, 'linux');
    assert.equal(config.variant, 'v8');
    assert.equal(config.created, '2024-05-01T12:00:00Z');
    assert.equal(config.author, 'someone <someone@example.com>');
    assert.equal(config['moby.buildkit.buildinfo.v1'], 'e30=');
    for (const field of ['container', 'container_config', 'docker_version', 'parent', 'id']) assert.ok(!(field in config), `${field} is dropped`);
  });

  test('rootfs and history describe the new layers', () => {
    const config = parsedConfig();
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: layers.map((l) => l.written.tar.digest) });
    assert.deepEqual(config.history, [
      { created: '2024-05-01T12:00:00Z', created_by: 'slim build: system and runtime', comment: '3 files, 51 bytes kept from sha256:2222' },
      { created: '2024-05-01T12:00:00Z', created_by: 'slim build: application code', comment: '2 files, 90 bytes kept from sha256:2222' },
    ]);
    assert.notEqual(layers[0]!.written.tar.digest, layers[1]!.written.tar.digest);
  });

  test('the config digest is that of the config bytes; the manifest is an OCI manifest with gzip layers', () => {
    assert.equal(image.configDigest, sha256(image.rawConfig));
    assert.equal(image.manifestDigest, sha256(image.manifest));
    assert.deepEqual(JSON.parse(image.manifest.toString()), {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: image.configDigest, size: image.rawConfig.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER_GZIP, digest: l.written.blob.digest, size: l.written.blob.size })),
    });
    assert.equal(OCI_MANIFEST, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(OCI_CONFIG, 'application/vnd.oci.image.config.v1+json');
    assert.equal(OCI_LAYER_GZIP, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.deepEqual(image.layers.map((l) => [l.written, l.createdBy, l.comment, l.diffId, l.digest]), layers.map((l) => [l.written, l.createdBy, l.comment, l.written.tar.digest, l.written.blob.digest]));
    assert.deepEqual([image.id, image.source, image.repoTags], [image.configDigest, 'slim', []], 'the slim image is an Image like any other');
  });

  test('the same inputs give the same bytes and digests; the original is not changed', async () => {
    const original = originalConfig();
    const again = assembleImage(original, layers, { ...LABELS });
    assert.deepEqual(original, originalConfig(), 'the original config object is left as it was');
    assert.ok(again.rawConfig.equals(image.rawConfig));
    assert.equal(again.configDigest, image.configDigest);
    assert.equal(again.manifestDigest, image.manifestDigest);
    const rewritten = assembleImage(originalConfig(), await writeLayers(), LABELS);
    assert.equal(rewritten.configDigest, image.configDigest, 'layers written again from the same entries');
    assert.equal(rewritten.manifestDigest, image.manifestDigest);
    const otherLabel = assembleImage(originalConfig(), layers, { ...LABELS, 'io.slim.version': '0.2.0' });
    assert.notEqual(otherLabel.configDigest, image.configDigest);
  });

  test('an original without runtime settings, labels or creation time', () => {
    const bare = parsedConfig(assembleImage({ architecture: 'amd64', os: 'linux' }, layers, LABELS));
    assert.deepEqual(bare.config, { Labels: LABELS });
    assert.deepEqual(bare.history, [
      { created_by: 'slim build: system and runtime', comment: '3 files, 51 bytes kept from sha256:2222' },
      { created_by: 'slim build: application code', comment: '2 files, 90 bytes kept from sha256:2222' },
    ]);
    const nullLabels = parsedConfig(assembleImage({ os: 'linux', config: { Cmd: ['x'], Labels: null } }, layers, LABELS));
    assert.deepEqual(nullLabels.config, { Cmd: ['x'], Labels: LABELS });
  });
});

/** Paths, types, modes, owners, sizes and link targets of a listing, for comparing with what was written. */
function summary(listing: LayerListing): string[] {
  return listing.entries.map((e) => `${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.size} ${e.linkTarget ?? ''}`.trimEnd());
}

function expectedSummary(specs: TarEntrySpec[]): string[] {
  const typeOf = { file: 'file', directory: 'directory', symlink: 'symlink', hardlink: 'hardlink', whiteout: 'whiteout' };
  return specs.map((s) => {
    const size = s.type === 'file' ? Buffer.byteLength(Object.entries(contentFiles).map(([k, p]) => (p === s.contentFile ? CONTENT[k as keyof typeof CONTENT] : '')).join('')) : 0;
    return `${typeOf[s.type]} ${s.path} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${size} ${s.linkTarget ?? ''}`.trimEnd();
  });
}

/** Reads an image back with slim's own readers: its listings, and the contents of its files. */
async function readBack(opened: Image): Promise<{ listings: LayerListing[]; fs: IndexImageFs }> {
  const listings = await readLayerListings(opened, silent);
  const index = FileIndex.build(listings);
  const root = next('materialized');
  return { listings, fs: new IndexImageFs(index, root, await materializeContents(opened, index, listings, root)) };
}

async function assertSameImage(opened: Image): Promise<void> {
  assert.equal(opened.id, image.configDigest);
  assert.ok(opened.rawConfig.equals(image.rawConfig), 'the config bytes are kept exactly');
  assert.deepEqual(opened.config, parsedConfig());
  assert.deepEqual(
    opened.layers.map((l) => l.diffId),
    layers.map((l) => l.written.tar.digest),
  );
  const { listings, fs } = await readBack(opened);
  assert.deepEqual(listings.map(summary), layerSpecs.map(expectedSummary));
  assert.equal((await fs.readFile('/etc/os-release'))?.toString(), CONTENT.osRelease);
  assert.equal((await fs.readFile('/usr/bin/alias'))?.toString(), CONTENT.tool, 'through the symlink');
  assert.equal((await fs.readFile('/app/server.js'))?.toString(), CONTENT.server);
  assert.equal((await fs.readFile('/app/sibling.js'))?.toString(), CONTENT.server, 'the hardlink has its target content');
}

function requireTool(t: TestContext, path: string): boolean {
  if (existsSync(path)) return true;
  if (process.env.CI) assert.fail(`${path} is required when CI is set`);
  t.skip(`${path} is not installed`);
  return false;
}

describe('writeDockerArchiveFile', () => {
  let archive: string;
  before(async () => {
    archive = next('slim.tar');
    await writeDockerArchiveFile(image, ['demo:v1-slim'], archive);
  });

  test('slim reads the archive back: config, diff_ids, RepoTags and layer contents', async () => {
    const opened = await openImage(`docker-archive:${archive}`);
    try {
      assert.equal(opened.source, 'docker-archive');
      assert.deepEqual(opened.repoTags, ['demo:v1-slim']);
      assert.deepEqual(
        opened.layers.map((l) => l.storedSize),
        layers.map((l) => l.written.tar.size),
        'layers are stored uncompressed',
      );
      await assertSameImage(opened);
    } finally {
      await opened.close();
    }
    const byTag = await openImage(`docker-archive:${archive}:demo:v1-slim`);
    try {
      assert.equal(byTag.id, image.configDigest);
    } finally {
      await byTag.close();
    }
  });

  test('the archive holds the config, one layer.tar per layer named by its diff_id, and manifest.json', async () => {
    const entries = await readTarEntries(archive);
    const hex = (d: string) => d.slice('sha256:'.length);
    const configName = `${hex(image.configDigest)}.json`;
    const layerNames = layers.map((l) => `${hex(l.written.tar.digest)}/layer.tar`);
    assert.deepEqual(
      entries.map((e) => e.header.name),
      [configName, ...layerNames, 'manifest.json'],
    );
    assert.ok(entries[0]!.data.equals(image.rawConfig));
    for (const [i, layer] of layers.entries()) assert.ok(entries[i + 1]!.data.equals(await readFile(layer.written.tar.path)));
    assert.deepEqual(JSON.parse(entries.at(-1)!.data.toString()), [{ Config: configName, RepoTags: ['demo:v1-slim'], Layers: layerNames }]);
  });

  test('is deterministic; without tags RepoTags is null and the image has no tags', async () => {
    const again = next('again.tar');
    await writeDockerArchiveFile(image, ['demo:v1-slim'], again);
    assert.ok((await readFile(again)).equals(await readFile(archive)));
    const untagged = next('untagged.tar');
    await writeDockerArchiveFile(image, [], untagged);
    const manifest = (await readTarEntries(untagged)).find((e) => e.header.name === 'manifest.json')!;
    assert.equal((JSON.parse(manifest.data.toString()) as Array<{ RepoTags: unknown }>)[0]!.RepoTags, null);
    const opened = await openImage(`docker-archive:${untagged}`);
    try {
      assert.deepEqual(opened.repoTags, []);
      assert.equal(opened.id, image.configDigest);
    } finally {
      await opened.close();
    }
  });

  test('skopeo inspects the archive', async (t) => {
    if (!requireTool(t, SKOPEO)) return;
    const { stdout } = await execFileAsync(SKOPEO, ['inspect', `docker-archive:${archive}`]);
    const inspected = JSON.parse(stdout) as { Layers: string[]; Architecture: string; Env: string[] };
    assert.deepEqual(
      inspected.Layers,
      layers.map((l) => l.written.tar.digest),
    );
    assert.equal(inspected.Architecture, 'arm64');
    assert.deepEqual(inspected.Env, (originalConfig().config as { Env: string[] }).Env);
  });
});

describe('writeOciLayout', () => {
  let layout: string;
  before(async () => {
    layout = next('oci');
    await writeOciLayout(image, layout, 'v1-slim');
  });

  test('slim reads the layout back by its ref name: config, diff_ids, gzip layers and contents', async () => {
    const opened = await openImage(`oci:${layout}:v1-slim`);
    try {
      assert.equal(opened.source, 'oci');
      assert.deepEqual(opened.repoTags, ['v1-slim']);
      assert.deepEqual(
        opened.layers.map((l) => [l.digest, l.mediaType, l.storedSize]),
        layers.map((l) => [l.written.blob.digest, OCI_LAYER_GZIP, l.written.blob.size]),
      );
      await assertSameImage(opened);
    } finally {
      await opened.close();
    }
  });

  test('blobs are named by their sha256; index.json names the manifest with the ref', async () => {
    const blobDir = join(layout, 'blobs', 'sha256');
    const names = (await readdir(blobDir)).sort();
    for (const name of names) assert.equal(sha256(await readFile(join(blobDir, name))), `sha256:${name}`, name);
    const hex = (d: string) => d.slice('sha256:'.length);
    assert.deepEqual(names, [image.configDigest, image.manifestDigest, ...layers.map((l) => l.written.blob.digest)].map(hex).sort());
    assert.ok((await readFile(join(blobDir, hex(image.manifestDigest)))).equals(image.manifest));
    assert.deepEqual(JSON.parse(await readFile(join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual(JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')), {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: OCI_MANIFEST, digest: image.manifestDigest, size: image.manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1-slim' } }],
    });
  });

  test('layer annotations (an eStargz TOC digest) survive: written, read back, and in the manifest of the image read', async () => {
    const annotated = { ...image, layers: image.layers.map((l, i) => ({ ...l, annotations: { 'containerd.io/snapshot/stargz/toc.digest': `sha256:${String(i).repeat(64)}` } })) };
    const dir = next('oci-annotated');
    await writeOciLayout(annotated, dir, 'v1');
    const opened = await openImage(`oci:${dir}:v1`);
    try {
      assert.deepEqual(
        opened.layers.map((l) => l.annotations),
        annotated.layers.map((l) => l.annotations),
      );
      assert.ok(manifestOf(opened).bytes.equals(manifestOf(annotated).bytes), 'a sink writing the image read (the registry push) writes the same manifest');
    } finally {
      await opened.close();
    }
  });

  test('without a ref name the manifest has no annotations and the image no tags', async () => {
    const unnamed = next('oci-unnamed');
    await writeOciLayout(image, unnamed, undefined);
    const index = JSON.parse(await readFile(join(unnamed, 'index.json'), 'utf8')) as { manifests: Array<Record<string, unknown>> };
    assert.equal(index.manifests.length, 1);
    assert.ok(!('annotations' in index.manifests[0]!));
    const opened = await openImage(`oci:${unnamed}`);
    try {
      assert.deepEqual(opened.repoTags, []);
      assert.equal(opened.id, image.configDigest);
    } finally {
      await opened.close();
    }
  });

  test('skopeo inspects oci:DIR:REF and reports the layer digests', async (t) => {
    if (!requireTool(t, SKOPEO)) return;
    const { stdout } = await execFileAsync(SKOPEO, ['inspect', `oci:${layout}:v1-slim`]);
    const inspected = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string; Os: string; Labels: Record<string, string> };
    assert.equal(inspected.Digest, image.manifestDigest);
    assert.deepEqual(
      inspected.Layers,
      layers.map((l) => l.written.blob.digest),
    );
    assert.equal(inspected.Architecture, 'arm64');
    assert.equal(inspected.Os, 'linux');
    assert.equal(inspected.Labels['io.slim.version'], '0.1.0');
  });

  test('umoci unpacks the layout (checking every digest) into a rootfs holding the files', async (t) => {
    if (!requireTool(t, UMOCI)) return;
    const bundle = next('bundle');
    await execFileAsync(UMOCI, ['unpack', '--rootless', '--image', `${layout}:v1-slim`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    assert.equal(await readFile(join(rootfs, 'etc/os-release'), 'utf8'), CONTENT.osRelease);
    assert.equal(await readFile(join(rootfs, 'app/server.js'), 'utf8'), CONTENT.server);
    assert.equal(await readFile(join(rootfs, 'app/sibling.js'), 'utf8'), CONTENT.server);
    assert.equal((await lstat(join(rootfs, 'app/sibling.js'))).ino, (await lstat(join(rootfs, 'app/server.js'))).ino, 'a hardlink stays a hardlink');
    assert.equal(await readlink(join(rootfs, 'usr/bin/alias')), 'tool');
    assert.equal((await lstat(join(rootfs, 'usr/bin/tool'))).mode & 0o7777, 0o755);
    const runtime = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; env: string[] } };
    assert.deepEqual(runtime.process.args, ['/usr/bin/tool', 'node', 'server.js'], 'Entrypoint + Cmd');
    assert.equal(runtime.process.cwd, '/app');
    assert.ok(runtime.process.env.includes('NODE_ENV=production'));
  });
});

describe('requireValidTag', () => {
  test('names the engine takes pass', () => {
    for (const tag of ['app', 'slim-bench/app:v1-slim', 'registry.example.com:5000/team/app:1.2.3', 'a__b/c.d-e:Tag_1', 'localhost/x']) requireValidTag(tag);
  });

  test('a name the engine would refuse is a usage error before any work', () => {
    for (const tag of ['slim-bench/big layer (5 GiB):v1', 'App:v1', 'app:', 'app:-x', 'app/', '-app', 'a'.repeat(256)]) {
      assert.throws(() => requireValidTag(tag), (err: unknown) => err instanceof SlimError && err.exitCode === 2 && /is not a valid image name/.test(err.message), tag);
    }
  });
});

describe('defaultSlimTag', () => {
  test('appends -slim to the tag, latest when there is none', () => {
    assert.equal(defaultSlimTag('slim-fixture/app:v1'), 'slim-fixture/app:v1-slim');
    assert.equal(defaultSlimTag('node:20'), 'node:20-slim');
    assert.equal(defaultSlimTag('node'), 'node:latest-slim');
    assert.equal(defaultSlimTag('library/node'), 'library/node:latest-slim');
  });

  test('a registry port is not a tag', () => {
    assert.equal(defaultSlimTag('registry.example.com:5000/team/app:1.2.3'), 'registry.example.com:5000/team/app:1.2.3-slim');
    assert.equal(defaultSlimTag('localhost:5000/app'), 'localhost:5000/app:latest-slim');
  });

  test('a digest is dropped: the slim image is a new image', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.equal(defaultSlimTag(`app@${digest}`), 'app:latest-slim');
    assert.equal(defaultSlimTag(`app:v2@${digest}`), 'app:v2-slim');
    assert.equal(defaultSlimTag(`localhost:5000/app@${digest}`), 'localhost:5000/app:latest-slim');
  });

  test('image IDs have no name to derive a tag from', () => {
    assert.equal(defaultSlimTag(`sha256:${'0123456789ab'.repeat(5)}0123`), undefined);
    assert.equal(defaultSlimTag('0123456789ab'.repeat(5) + '0123'), undefined);
    assert.equal(defaultSlimTag('0123456789ab'), undefined, 'a short ID');
    assert.equal(defaultSlimTag('sha256:0123456789ab'), undefined);
    assert.equal(defaultSlimTag('0123456789a'), '0123456789a:latest-slim', 'too short to be an ID: a name');
  });
});

describe('parseOutput', () => {
  test('docker-archive:FILE, oci:DIR and registry:HOST/REPO:TAG', () => {
    const parsed = (text: string) => {
      const { sink, destination } = parseOutput(text);
      return { scheme: sink.scheme, destination };
    };
    assert.deepEqual(parsed('docker-archive:/tmp/slim.tar'), { scheme: 'docker-archive', destination: '/tmp/slim.tar' });
    assert.deepEqual(parsed('docker-archive:out/a:b.tar'), { scheme: 'docker-archive', destination: 'out/a:b.tar' });
    assert.deepEqual(parsed('oci:./layout'), { scheme: 'oci', destination: './layout' });
    assert.deepEqual(parsed('oci:./layout:v1-zstd'), { scheme: 'oci', destination: './layout:v1-zstd' });
    assert.deepEqual(parsed('registry:127.0.0.1:5000/team/app:v1'), { scheme: 'registry', destination: '127.0.0.1:5000/team/app:v1' });
  });

  test('oci:DIR[:REF]: a colon in the last path segment starts the ref name, as skopeo reads it', () => {
    assert.deepEqual(ociDestination('./layout'), { dir: './layout' });
    assert.deepEqual(ociDestination('/out/layout:v1-zstd'), { dir: '/out/layout', ref: 'v1-zstd' });
    assert.deepEqual(ociDestination('/a:b/layout'), { dir: '/a:b/layout' }, 'a colon in a parent directory is part of the path');
    assert.deepEqual(ociDestination('/out/layout:'), { dir: '/out/layout' });
  });

  test('anything else is a usage error (exit 2)', () => {
    for (const bad of ['', 'oci:', 'docker-archive:', 'docker-archive', 'oci', '/tmp/x.tar', 'tar:/x', 'docker-daemon:app', 'oci-archive:x.tar', 'OCI:dir']) {
      assert.throws(
        () => parseOutput(bad),
        (err: unknown) => err instanceof SlimError && err.exitCode === 2 && err.message.includes('docker-archive:FILE, oci:DIR[:REF], registry:HOST/REPO:TAG'),
        JSON.stringify(bad),
      );
    }
  });
});

describe('sourceDateEpoch', () => {
  function withEpoch<T>(value: string | undefined, fn: () => T): T {
    const saved = process.env.SOURCE_DATE_EPOCH;
    if (value === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = value;
    try {
      return fn();
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  }

  test('unset or empty is 0', () => {
    assert.equal(
      withEpoch(undefined, () => sourceDateEpoch()),
      0,
    );
    assert.equal(
      withEpoch('', () => sourceDateEpoch()),
      0,
    );
  });

  test('a whole number of seconds is used', () => {
    assert.equal(
      withEpoch('1700000000', () => sourceDateEpoch()),
      1_700_000_000,
    );
    assert.equal(
      withEpoch('0', () => sourceDateEpoch()),
      0,
    );
  });

  test('anything else is a usage error (exit 2) naming the value', () => {
    for (const bad of ['abc', '-1', '1.5', 'NaN', 'Infinity', '12abc']) {
      assert.throws(
        () => withEpoch(bad, () => sourceDateEpoch()),
        (err: unknown) => err instanceof SlimError && err.exitCode === 2 && err.message.includes(`SOURCE_DATE_EPOCH=${bad}`),
        bad,
      );
    }
  });
});
