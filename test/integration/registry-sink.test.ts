import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRegistry, type Registry } from '../../src/bench/registry.js';
import { freePort } from '../../src/docker/function-container.js';
import { SlimError } from '../../src/errors.js';
import { openImage } from '../../src/image/open-image.js';
import { pushImage } from '../../src/image/sinks/registry.js';
import { layerArchive, rawTar } from '../helpers/crafted-images.js';
import { engineOrSkip, run, tempDir } from './support.js';

const LAYER = rawTar([{ name: 'srv/', type: 'dir' }, { name: 'srv/hello.txt', content: 'hello from a pushed layer\n' }]);

async function skopeoInspect(reference: string): Promise<{ Digest: string; Layers: string[] }> {
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reference}`]);
  return JSON.parse(stdout) as { Digest: string; Layers: string[] };
}

describe('the registry sink', () => {
  let ready = false;
  let work: { path: string; remove(): Promise<void> };
  let registry: Registry;
  let archive = '';
  let readOnly: ChildProcess | undefined;

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    work = await tempDir('registry-sink');
    registry = await startRegistry();
    archive = await layerArchive(work.path, 'pushed', LAYER);
  });

  after(async () => {
    readOnly?.kill('SIGKILL');
    await registry?.stop();
    await run('docker', ['rmi', `${registry?.address}/slim-test/pushed:v1`]).catch(() => undefined);
    await work?.remove();
  });

  test('pushes an image straight to a registry, blob by blob, and docker pulls it back', async () => {
    if (!ready) return;
    const image = await openImage(`docker-archive:${archive}`);
    try {
      const pushed = await pushImage(image, { host: registry.address, repository: 'slim-test/pushed', tag: 'v1' }, { tlsVerify: false });
      assert.equal(pushed.reference, `${registry.address}/slim-test/pushed:v1`);
      const inspected = await skopeoInspect(pushed.reference);
      assert.equal(inspected.Digest, pushed.manifestDigest);
      assert.deepEqual(inspected.Layers, image.layers.map((l) => l.diffId), 'an uncompressed layer is pushed as it is, named by its diff_id');
      // a second push finds every blob there already (HEAD) and only writes the manifest again
      const again = await pushImage(image, { host: registry.address, repository: 'slim-test/pushed', tag: 'v1' }, { tlsVerify: false });
      assert.equal(again.manifestDigest, pushed.manifestDigest);
      await run('docker', ['pull', pushed.reference]);
      const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}} {{json .RootFS.Layers}}', pushed.reference]);
      assert.equal(stdout.trim(), `${image.id} ${JSON.stringify(image.layers.map((l) => l.diffId))}`, 'the engine holds the same image');
    } finally {
      await image.close();
    }
  });

  test('a registry that refuses the push shows its answer and leaves no tag; an unreachable one is exit 4', async () => {
    if (!ready) return;
    const port = await freePort();
    const config = join(work.path, 'readonly.yml');
    await writeFile(
      config,
      ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${join(work.path, 'readonly-storage')}`, '  maintenance:', '    readonly:', '      enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'),
    );
    readOnly = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    const image = await openImage(`docker-archive:${archive}`);
    try {
      await assert.rejects(
        pushImage(image, { host: `127.0.0.1:${port}`, repository: 'slim-test/refused', tag: 'v1' }, { tlsVerify: false }),
        (err: unknown) => err instanceof SlimError && err.exitCode === 1 && /the registry 127\.0\.0\.1:\d+ refused an upload of sha256:[0-9a-f]+: 405 Method not allowed/.test(err.message),
      );
      const tags = await fetch(`http://127.0.0.1:${port}/v2/slim-test/refused/tags/list`);
      assert.equal(tags.status, 404, 'no tag was written');
      const closed = await freePort();
      await assert.rejects(
        pushImage(image, { host: `127.0.0.1:${closed}`, repository: 'slim-test/nowhere', tag: 'v1' }, { tlsVerify: false }),
        (err: unknown) => err instanceof SlimError && err.exitCode === 4 && /cannot reach the registry 127\.0\.0\.1:\d+: ECONNREFUSED/.test(err.message),
      );
    } finally {
      await image.close();
    }
  });
});
