import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import type { ImageAnalysis } from '../../src/analyze/analysis.js';
import { engineOrSkip, imageId, listDir, NODE_EXPRESS, requireFixture, run, slim, tempDir } from './support.js';

/** Everything in an analysis that depends on the image's content, not on where it was read from. */
function contentOf(a: ImageAnalysis) {
  return {
    id: a.image.id,
    totalBytes: a.totalBytes,
    visibleBytes: a.visibleBytes,
    fileCount: a.fileCount,
    wastedBytes: a.wastedBytes,
    efficiency: a.efficiency,
    layers: a.layers.map((l) => ({ diffId: l.diffId, bytes: l.bytes, fileCount: l.fileCount, createdBy: l.createdBy })),
    largest: a.largest,
    kinds: a.kinds,
    wasted: a.wasted,
  };
}

describe('analyze node-express from every source', () => {
  let work: { path: string; remove(): Promise<void> };
  let slimTmp: string;
  let originalId = '';
  let ready = false;

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    originalId = await requireFixture(NODE_EXPRESS);
    work = await tempDir('sources');
    slimTmp = join(work.path, 'slim-tmp');
    await run('mkdir', ['-p', slimTmp]);
  });
  after(async () => {
    await work?.remove();
  });

  test('daemon, docker save archive and OCI layout give identical analyses', async (t) => {
    if (!ready) return t.skip('no engine');
    const env = { SLIM_TMPDIR: slimTmp };
    const fromDaemon = await slim(['analyze', NODE_EXPRESS, '--json'], env);
    assert.equal(fromDaemon.code, 0, fromDaemon.stderr);

    const archive = join(work.path, 'node-express.tar');
    await run('docker', ['save', '-o', archive, NODE_EXPRESS]);
    const fromArchive = await slim(['analyze', `docker-archive:${archive}`, '--json'], env);
    assert.equal(fromArchive.code, 0, fromArchive.stderr);
    const fromDetectedTar = await slim(['analyze', archive, '--json'], env);
    assert.equal(fromDetectedTar.code, 0, fromDetectedTar.stderr);

    const layout = join(work.path, 'oci');
    await run('skopeo', ['copy', '--quiet', `docker-daemon:${NODE_EXPRESS}`, `oci:${layout}:v1`], { timeout: 300_000 });
    const fromOci = await slim(['analyze', `oci:${layout}:v1`, '--json'], env);
    assert.equal(fromOci.code, 0, fromOci.stderr);

    const daemon = JSON.parse(fromDaemon.stdout) as ImageAnalysis;
    const fromTar = JSON.parse(fromArchive.stdout) as ImageAnalysis;
    assert.equal(daemon.image.source, 'daemon');
    assert.equal(fromTar.image.source, 'docker-archive');
    assert.deepEqual(contentOf(fromTar), contentOf(daemon));
    assert.deepEqual(contentOf(JSON.parse(fromDetectedTar.stdout) as ImageAnalysis), contentOf(daemon));
    const oci = JSON.parse(fromOci.stdout) as ImageAnalysis;
    assert.equal(oci.image.source, 'oci');
    // skopeo rewrites the config (so the image ID differs); the filesystem must not differ at all
    assert.deepEqual({ ...contentOf(oci), id: daemon.image.id }, contentOf(daemon));
    // skopeo compresses the layers: the OCI copy stores fewer bytes than docker save's plain tars
    assert.ok(oci.storedBytes < daemon.storedBytes, `${oci.storedBytes} < ${daemon.storedBytes}`);

    // the numbers describe a real fat image: nodejs from apt, app and node_modules copied in
    assert.equal(daemon.image.id, originalId);
    assert.ok(daemon.layers.length >= 4);
    assert.ok(daemon.totalBytes > 100_000_000, `totalBytes ${daemon.totalBytes}`);
    const kinds = Object.fromEntries(daemon.kinds.map((k) => [k.kind, k.bytes]));
    assert.ok(kinds['node-modules']! > 100_000, 'node_modules counted');
    assert.ok(kinds['shared-libraries']! > 10_000_000, 'shared libraries counted');
    assert.ok(kinds['package-manager']! > 1_000_000, 'apt lists and dpkg state counted');
    assert.ok(kinds['docs-man-locale']! > 1_000_000, 'docs counted');
    assert.ok(daemon.largest.files.some((f) => /libnode\.so/.test(f.path)), 'libnode is among the largest files');
    assert.match(daemon.layers.at(-1)!.createdBy ?? '', /COPY|server\.js/);
  });

  test('the original image is untouched and no temporary files are left', async (t) => {
    if (!ready) return t.skip('no engine');
    assert.equal(await imageId(NODE_EXPRESS), originalId);
    assert.deepEqual(await listDir(slimTmp), []);
  });

  test('table and markdown formats render the same analysis', async (t) => {
    if (!ready) return t.skip('no engine');
    const table = await slim(['analyze', NODE_EXPRESS]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^Layers$/m);
    assert.match(table.stdout, /efficiency\s+\d+\.\d%/);
    const markdown = await slim(['analyze', NODE_EXPRESS, '--format', 'markdown']);
    assert.equal(markdown.code, 0, markdown.stderr);
    assert.match(markdown.stdout, /^\| # \| size \| stored \| files \| digest \| created by \|$/m);
    assert.match(markdown.stdout, /<details><summary>Largest files<\/summary>/);
  });

  test('a reference the engine does not have is an input error', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slim(['analyze', 'slim-fixture/does-not-exist:v0']);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /^slim: image slim-fixture\/does-not-exist:v0 not found in the Docker engine$/m);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
