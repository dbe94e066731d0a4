import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { ContainerdNode } from '../../src/bench/containerd-node.js';
import { startRegistry } from '../../src/bench/registry.js';
import type { BenchReport } from '../../src/bench/bench-report.js';
import type { BuildReport } from '../../src/build/report.js';
import { engineOrSkip, imageId, imageIdentity, NODE_EXPRESS, REPO, requireFixture, run, slim, tempDir } from './support.js';

const RECORDING = join(REPO, 'fixtures/node-express/recording.json');
const V2 = 'slim-fixture/node-express:v2';
const TAG_V1 = 'slim-test/node-express:v1-slim';
const TAG_V2 = 'slim-test/node-express:v2-slim';
const TAG_ZSTD = 'slim-test/node-express:v1-zstd';
const TAG_ESTARGZ = 'slim-test/node-express:v1-estargz';

async function inspect(reference: string): Promise<{ Id: string; Config: Record<string, unknown> } | undefined> {
  try {
    const { stdout } = await run('docker', ['image', 'inspect', reference]);
    return (JSON.parse(stdout) as Array<{ Id: string; Config: Record<string, unknown> }>)[0];
  } catch {
    return undefined;
  }
}

async function temporaryContainers(): Promise<string> {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary']);
  return stdout.trim();
}

describe('slim build and slim verify on node-express', () => {
  let work: { path: string; remove(): Promise<void> };
  let ready = false;
  let originalV1 = '';
  let identities: string[] = [];
  let v1: BuildReport;

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    originalV1 = await requireFixture(NODE_EXPRESS);
    await requireFixture(V2);
    work = await tempDir('build');
    for (const tag of [TAG_V1, TAG_V2, TAG_ZSTD, TAG_ESTARGZ]) await run('docker', ['rmi', tag]).catch(() => undefined);
    identities = await Promise.all([NODE_EXPRESS, V2].map(imageIdentity));
  });
  afterEach(async () => {
    if (ready) assert.deepEqual(await Promise.all([NODE_EXPRESS, V2].map(imageIdentity)), identities, 'build, verify and bench leave the originals unchanged');
  });
  after(async () => {
    for (const tag of [TAG_V1, TAG_V2, TAG_ZSTD, TAG_ESTARGZ]) await run('docker', ['rmi', tag]).catch(() => undefined);
    await work?.remove();
  });

  test('builds a verified slim image near the traced floor, layered system → deps → app', async (t) => {
    if (!ready) return t.skip('no engine');
    const oci = join(work.path, 'oci');
    const archive = join(work.path, 'slim.tar');
    const profile = join(work.path, 'profile.json');
    const result = await slim([
      'build', NODE_EXPRESS, '--record', RECORDING, '--tag', TAG_V1, '--json',
      '--output', `oci:${oci}`, '--output', `docker-archive:${archive}`, '--profile-out', profile,
    ]);
    assert.equal(result.code, 0, result.stderr);
    v1 = JSON.parse(result.stdout) as BuildReport;

    assert.deepEqual(v1.verification, { verified: true, ok: true, requests: 7, differing: 0, report: 'all 7 requests match\n', original: 'traced run' });
    assert.deepEqual(v1.slim.layers.map((l) => l.group), ['system', 'deps', 'app']);
    assert.ok(v1.slim.fileBytes <= 1.1 * v1.tracedFloorBytes, `${v1.slim.fileBytes} <= 1.1 × ${v1.tracedFloorBytes}`);
    assert.ok(v1.slim.tarBytes <= 1.1 * v1.tracedFloorBytes + 2_000_000, 'tar metadata is small');
    assert.ok(v1.slim.compressedBytes < v1.original.compressedBytes * 0.3);
    assert.ok(v1.slim.layers.find((l) => l.group === 'app')!.files <= 5, 'the app layer holds only the app');
    assert.equal(await imageId(NODE_EXPRESS), originalV1, 'the original is untouched');

    const tagged = await inspect(TAG_V1);
    assert.ok(tagged, 'the slim tag exists');
    assert.equal(tagged.Id, v1.slim.id);
    const original = (await inspect(NODE_EXPRESS))!;
    for (const key of ['Cmd', 'Entrypoint', 'Env', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck']) {
      assert.deepEqual(tagged.Config[key], original.Config[key], `${key} carried over`);
    }
    const labels = tagged.Config.Labels as Record<string, string>;
    assert.equal(labels['io.slim.source-image'], originalV1);
    assert.match(labels['io.slim.version']!, /^\d+\.\d+\.\d+/);

    const skopeo = JSON.parse((await run('skopeo', ['inspect', `oci:${oci}:v1-slim`])).stdout) as { Layers: string[] };
    assert.deepEqual(skopeo.Layers, v1.slim.layers.map((l) => l.digest));
    const bundle = join(work.path, 'bundle');
    await run('umoci', ['unpack', '--image', `${oci}:v1-slim`, bundle]);
    const server = await readFile(join(bundle, 'rootfs/app/server.js'), 'utf8');
    assert.match(server, /express/);
    const fromArchive = await slim(['analyze', `docker-archive:${archive}`, '--json']);
    assert.equal(fromArchive.code, 0, fromArchive.stderr);
    assert.deepEqual((JSON.parse(fromArchive.stdout) as { layers: Array<{ diffId: string }> }).layers.map((l) => l.diffId), v1.slim.layers.map((l) => l.diffId));

    const groups = (JSON.parse(await readFile(profile, 'utf8')) as { groups: Array<{ path: string; group: string; rule: string }> }).groups;
    const groupOf = new Map(groups.map((g) => [g.path, g]));
    assert.equal(groupOf.get('/usr/bin/node')?.group, 'system');
    assert.match(groupOf.get('/usr/bin/node')!.rule, /Debian package nodejs/);
    assert.equal(groupOf.get('/app/node_modules/express/index.js')?.group, 'deps');
    assert.equal(groupOf.get('/app/server.js')?.group, 'app');
  });

  test('--compression zstd: the same tars (diff_ids), zstd blobs in an OCI layout skopeo copies, and pushed as they are to a registry', async (t) => {
    if (!ready) return t.skip('no engine');
    const registry = await startRegistry();
    try {
      const oci = join(work.path, 'oci-zstd');
      const target = `${registry.address}/slim-test/pushed-zstd:v1-slim`;
      const result = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--compression', 'zstd', '--no-verify', '--json', '--tag', TAG_ZSTD, '--output', `oci:${oci}`, '--output', `registry:${target}`, '--tls-verify=false']);
      assert.equal(result.code, 0, result.stderr);
      const zstd = JSON.parse(result.stdout) as BuildReport;
      assert.equal(zstd.slim.compression, 'zstd');
      assert.deepEqual(zstd.slim.layers.map((l) => l.diffId), v1.slim.layers.map((l) => l.diffId), 'the layers hold the same tars as the gzip build');
      assert.ok(zstd.slim.compressedBytes < v1.slim.compressedBytes * 1.1, `zstd ${zstd.slim.compressedBytes} against gzip ${v1.slim.compressedBytes} bytes`);
      const layout = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${oci}`])).stdout) as { layers: Array<{ mediaType: string; digest: string }> };
      assert.deepEqual(layout.layers.map((l) => [l.mediaType, l.digest]), zstd.slim.layers.map((l) => ['application/vnd.oci.image.layer.v1.tar+zstd', l.digest]));
      // Debian's umoci 0.4.7 refuses zstd layers ("blob is not correct mediatype"): skopeo and slim read them
      const copied = join(work.path, 'zstd-decompressed');
      await run('skopeo', ['copy', '--dest-decompress', `oci:${oci}:v1-zstd`, `oci:${copied}:v1`]);
      for (const source of [`oci:${oci}:v1-zstd`, `oci:${copied}:v1`]) {
        const analyzed = await slim(['analyze', source, '--json']);
        assert.equal(analyzed.code, 0, analyzed.stderr);
        assert.deepEqual((JSON.parse(analyzed.stdout) as { layers: Array<{ diffId: string }> }).layers.map((l) => l.diffId), v1.slim.layers.map((l) => l.diffId), `${source}: every layer decompresses to its diff_id`);
      }
      const pushed = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`])).stdout) as { layers: Array<{ mediaType: string; digest: string }> };
      assert.deepEqual(pushed.layers.map((l) => [l.mediaType, l.digest]), layout.layers.map((l) => [l.mediaType, l.digest]), 'the registry holds exactly the blobs slim wrote');
    } finally {
      await registry.stop();
    }
  });

  test('--compression estargz: what the run read first comes first, ctr-remote reads each TOC, and the record files follow the trace', async (t) => {
    if (!ready) return t.skip('no engine');
    const oci = join(work.path, 'oci-estargz');
    const record = join(work.path, 'record.jsonl');
    const list = join(work.path, 'prefetch.txt');
    const result = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--compression', 'estargz', '--json', '--tag', TAG_ESTARGZ, '--output', `oci:${oci}`, '--estargz-record-out', record, '--prefetch-list-out', list]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as BuildReport;
    assert.equal(report.verification.ok, true, 'the eStargz image answers as the original does');
    const manifest = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${oci}:v1-estargz`])).stdout) as { layers: Array<{ mediaType: string; digest: string; annotations: Record<string, string> }> };
    const node = await ContainerdNode.start();
    try {
      const archive = join(work.path, 'oci-estargz.tar');
      await run('tar', ['-C', oci, '-cf', archive, '.']);
      await run('ctr', ['-a', node.socket, '-n', 'slim-bench', 'images', 'import', '--no-unpack', archive]);
      let prefetched = 0;
      for (const layer of manifest.layers) {
        assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
        const toc = (await run('ctr-remote', ['-a', node.socket, '-n', 'slim-bench', 'images', 'get-toc-digest', layer.digest])).stdout.trim();
        assert.equal(toc, layer.annotations['containerd.io/snapshot/stargz/toc.digest'], `ctr-remote finds the TOC slim annotated in ${layer.digest}`);
        const dumped = JSON.parse((await run('ctr-remote', ['-a', node.socket, '-n', 'slim-bench', 'images', 'get-toc-digest', '--dump-toc', layer.digest], { maxBuffer: 64 * 1024 * 1024 })).stdout) as { entries: Array<{ name: string; type: string; size?: number }> };
        const landmark = dumped.entries.findIndex((e) => e.name === '.prefetch.landmark');
        assert.ok(landmark > 0, `${layer.digest} has a prefetch landmark`);
        prefetched += dumped.entries.slice(0, landmark).reduce((sum, e) => sum + (e.type === 'reg' ? (e.size ?? 0) : 0), 0);
      }
      assert.ok(prefetched <= report.tracedFloorBytes, `the prefetched part (${prefetched} bytes) is within the traced floor (${report.tracedFloorBytes})`);
      assert.ok(prefetched > report.tracedFloorBytes / 2, `and holds most of it (${prefetched} of ${report.tracedFloorBytes})`);
    } finally {
      await node.stop();
    }
    const lines = (await readFile(record, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { path: string; layerIndex: number });
    const paths = (await readFile(list, 'utf8')).trim().split('\n');
    assert.deepEqual(lines.map((l) => `/${l.path}`), paths, 'the record and the list hold the same paths in the same order');
    assert.equal(paths[0], '/usr/bin/node', 'the entrypoint is read first');
    assert.ok(paths.includes('/app/server.js'));
    assert.equal(lines.find((l) => l.path === 'app/server.js')!.layerIndex, report.slim.layers.findIndex((l) => l.group === 'app'));
  });

  test('the report shows the attack surface shrinking: no shell, package manager or setuid binary is left', (t) => {
    if (!ready) return t.skip('no engine');
    const { original, slim: after } = v1.attackSurface;
    assert.ok(original.shells.includes('/usr/bin/dash') && original.shells.includes('/usr/bin/sh'), `original shells: ${original.shells}`);
    assert.ok(original.packageManagers.includes('/usr/bin/apt-get') && original.packageManagers.includes('/usr/bin/dpkg'));
    assert.ok(original.setuid.includes('/usr/bin/su'), `original setuid: ${original.setuid}`);
    assert.deepEqual([after.shells, after.packageManagers, after.setuid, after.setgid], [[], [], [], []]);
    assert.ok(after.executables >= 1 && after.executables < original.executables / 10, `${after.executables} of ${original.executables} executables`);
  });

  test('a one-line code change reuses the system and dependency layers exactly', async (t) => {
    if (!ready) return t.skip('no engine');
    // the recording asks for the original to be replayed again in verification, not taken from the trace
    const rerun = join(work.path, 'rerun-recording.json');
    await writeFile(rerun, JSON.stringify({ ...JSON.parse(await readFile(RECORDING, 'utf8')), rerunOriginal: true }));
    const result = await slim(['build', V2, '--record', rerun, '--tag', TAG_V2, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const v2 = JSON.parse(result.stdout) as BuildReport;
    assert.equal(v2.verification.original, 'own run');
    assert.equal(v2.verification.ok, true);
    assert.deepEqual(v2.slim.layers.map((l) => l.group), ['system', 'deps', 'app']);
    assert.equal(v2.slim.layers[0]!.digest, v1.slim.layers[0]!.digest, 'system layer reused');
    assert.equal(v2.slim.layers[1]!.digest, v1.slim.layers[1]!.digest, 'dependency layer reused');
    assert.notEqual(v2.slim.layers[2]!.digest, v1.slim.layers[2]!.digest, 'the app layer changed');
    assert.ok(v2.slim.layers[2]!.compressedBytes < 10_000, 'only a small app layer differs');
  });

  test('slim bench measures both images through a registry and a clean engine, with update bytes', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slim(['bench', V2, TAG_V2, '--record', RECORDING, '--rounds', '1', '--warm-rounds', '3', '--update-from', `${NODE_EXPRESS},${TAG_V1}`, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as BenchReport;
    assert.equal(report.schemaVersion, 1);
    assert.equal(report.rounds, 1);
    assert.equal(report.warmRounds, 3);
    assert.equal(report.bandwidth, null);
    const original = report.images.original!;
    const slimImage = report.images.slim!;
    for (const image of [original, slimImage]) {
      assert.ok(image.compressedBytes > 0);
      for (const s of [image.pull, image.firstRequestCold, image.firstRequestWarm, image.coldStart]) {
        assert.equal(s.samples.length, s === image.firstRequestWarm ? 3 : 1);
        assert.ok(s.median > 0 && s.min <= s.median && s.median <= s.max);
      }
      assert.ok(Math.abs(image.coldStart.median - (image.pull.median + image.firstRequestCold.median / 1000)) < 1e-6, 'cold start = pull + first request');
      assert.ok(image.update && image.update.bytes > 0 && image.update.bytes < image.compressedBytes, 'an update pulls less than the image');
    }
    assert.equal(original.layers, 6);
    assert.equal(slimImage.layers, 3);
    // the v1 → v2 change only touches the app layer, so the slim update pulls at most that layer
    assert.ok(slimImage.update!.bytes <= v1.slim.layers.find((l) => l.group === 'app')!.compressedBytes * 1.5, `update ${slimImage.update!.bytes} bytes`);
    assert.equal(report.ratios.compressedBytes, Math.round((slimImage.compressedBytes / original.compressedBytes) * 1000) / 1000);
    assert.ok(report.ratios.compressedBytes! < 0.5);
    assert.equal(await temporaryContainers(), '');
    const { stdout: netns } = await run('ip', ['netns', 'list']);
    assert.doesNotMatch(netns, /slim-bench/);

    const baseline = join(work.path, 'baseline.json');
    await (await import('node:fs/promises')).writeFile(baseline, result.stdout);
    const markdown = await slim(['bench', TAG_V2, '--record', RECORDING, '--rounds', '1', '--warm-rounds', '1', '--baseline', baseline, '--fail-if', 'size>+5%', '--format', 'markdown']);
    assert.equal(markdown.code, 0, markdown.stderr);
    assert.match(markdown.stdout, /^### slim bench$/m);
    assert.match(markdown.stdout, /\| compressed size \|/);
    assert.match(markdown.stdout, /✓ size>\+5%: [+-]0\.0%/);
  });

  test('--node containerd: a throwaway containerd pulls and runs the gzip slim image and the zstd one; dockerd 20.10 cannot pull zstd', async (t) => {
    if (!ready) return t.skip('no engine');
    const zstdLayout = `oci:${join(work.path, 'oci-zstd')}:v1-zstd`;
    for (const image of [TAG_V1, zstdLayout]) {
      const result = await slim(['bench', image, '--record', RECORDING, '--node', 'containerd', '--rounds', '1', '--warm-rounds', '2', '--json']);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as BenchReport;
      assert.match(report.node, /^containerd 1\.\d+/);
      const bench = report.images.original!;
      assert.equal(bench.reference, image);
      assert.ok(bench.compressedBytes > 20e6 && bench.compressedBytes < 60e6, `${image}: ${bench.compressedBytes} bytes in the registry`);
      assert.ok(bench.pull.median > 0 && bench.firstRequestCold.median > 0 && bench.firstRequestWarm.median > 0);
      t.diagnostic(`containerd ${image}: pull ${bench.pull.median.toFixed(2)} s, cold start ${bench.coldStart.median.toFixed(2)} s`);
    }
    const onDocker = await slim(['bench', zstdLayout, '--record', RECORDING, '--rounds', '1', '--warm-rounds', '1']);
    assert.equal(onDocker.code, 1, onDocker.stderr);
    assert.match(onDocker.stderr, /has zstd layers, and dockerd 20\.10\.\S+ cannot pull them\n.*bench the image with --node containerd/);
  });

  test('--node stargz: the eStargz slim image is mounted lazily (no layer comes at pull), starts and answers; a gzip image is pulled whole', async (t) => {
    if (!ready) return t.skip('no engine');
    const estargzLayout = `oci:${join(work.path, 'oci-estargz')}:v1-estargz`;
    const lazy = await slim(['bench', estargzLayout, '--record', RECORDING, '--node', 'stargz', '--rounds', '2', '--warm-rounds', '2', '--json']);
    assert.equal(lazy.code, 0, lazy.stderr);
    const report = JSON.parse(lazy.stdout) as BenchReport;
    assert.match(report.node, /^containerd 1\.\d+\S*, stargz snapshotter/);
    const estargz = report.images.original!;
    assert.equal(estargz.pull.samples.length, 2, 'both cold rounds ran (the snapshotter restarts empty between them)');
    assert.equal(estargz.firstRequestWarm.samples.length, 2);
    assert.equal(estargz.pulledBytes, 0, 'the eStargz layers stay in the registry at pull: the function reads them through FUSE');
    t.diagnostic(`stargz node, eStargz: pull ${estargz.pull.median.toFixed(2)} s, cold start ${estargz.coldStart.median.toFixed(2)} s`);

    const whole = await slim(['bench', TAG_V1, '--record', RECORDING, '--node', 'stargz', '--rounds', '1', '--warm-rounds', '1', '--json']);
    assert.equal(whole.code, 0, whole.stderr);
    const gzip = (JSON.parse(whole.stdout) as BenchReport).images.original!;
    assert.equal(gzip.pulledBytes, gzip.compressedBytes, 'a plain gzip image has no TOC to mount: every layer is downloaded');
    const daemons = await run('pgrep', ['-f', 'slim-stargz-snapshotter']).catch(() => ({ stdout: '' }));
    assert.equal(daemons.stdout.trim(), '', 'no snapshotter daemon is left');
  });

  test('slim verify fails with a readable diff when two images answer differently', async (t) => {
    if (!ready) return t.skip('no engine');
    const same = await slim(['verify', NODE_EXPRESS, TAG_V1, '--record', RECORDING]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /all 7 requests match/);
    const different = await slim(['verify', NODE_EXPRESS, TAG_V2, '--record', RECORDING]);
    assert.equal(different.code, 1);
    assert.match(different.stdout, /✗ GET \/health/);
    assert.match(different.stdout, /\$\.version: "1\.0\.0" ≠ "2\.0\.0"/);
    assert.match(different.stdout, /\d of 7 requests differ/);
    assert.match(different.stderr, /^slim: verification failed/m);
  });

  test('a slim image that fails verification is removed and never tagged', async (t) => {
    if (!ready) return t.skip('no engine');
    const tag = 'slim-test/node-express:broken-slim';
    const before = (await run('docker', ['images', '-q', '--filter', 'dangling=true'])).stdout.trim();
    const result = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--tag', tag, '--exclude', '/app/node_modules/lodash/**']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /verification failed/);
    assert.match(result.stderr, /Cannot find module 'lodash'|exited with code/);
    assert.match(result.stderr, /the slim image was removed and no tag was created/);
    assert.equal(await inspect(tag), undefined, 'no tag');
    assert.equal((await run('docker', ['images', '-q', '--filter', 'dangling=true'])).stdout.trim(), before, 'no untagged image left');
    assert.equal(await temporaryContainers(), '');
    assert.equal(await imageId(NODE_EXPRESS), originalV1);
  });

  test('bad arguments are usage errors', async (t) => {
    if (!ready) return t.skip('no engine');
    const retag = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--tag', NODE_EXPRESS]);
    assert.equal(retag.code, 2);
    assert.match(retag.stderr, /names the original image; slim never retags it/);
    const badOutput = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--output', 'tarball:x']);
    assert.equal(badOutput.code, 2);
    assert.match(badOutput.stderr, /use docker-archive:FILE, oci:DIR\[:REF\], registry:HOST\/REPO:TAG/);
    const badGroup = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--group', '/x=other']);
    assert.equal(badGroup.code, 2);
    const unwritable = await slim(['build', NODE_EXPRESS, '--record', RECORDING, '--output', 'docker-archive:/nonexistent-dir/slim.tar']);
    assert.equal(unwritable.code, 2);
    assert.match(unwritable.stderr, /\/nonexistent-dir is not a writable directory/);
  });
});
