import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FleetBenchReport, FleetBenchVariantReport } from '../../src/bench/fleet-bench-report.js';
import type { FleetReport } from '../../src/fleet/fleet-report.js';
import { CLI, engineOrSkip, imageIdentity, listDir, REPO, requireFixture, run, slim, tempDir } from './support.js';

const FLEET = join(REPO, 'fixtures/fleet');
const recording = (name: string) => join(FLEET, name, 'recording.json');
const tagOf = (name: string, version: string) => `slim-test/fleet-${name}:${version}`;

function fleetFile(functions: Array<{ name: string; version: string; profile?: string }>) {
  return {
    version: 1,
    functions: functions.map((f) => ({
      image: `slim-fixture/${f.name}:${f.version}`,
      recording: recording(f.name),
      tag: tagOf(f.name, f.version),
      ...(f.profile ? { profile: f.profile } : {}),
    })),
  };
}

async function temporaryContainers(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary']);
  return stdout.split('\n').filter(Boolean);
}

/** The layer digests (diff_ids) of an image in the engine, bottom first. */
async function layersOf(reference: string): Promise<string[]> {
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', reference]);
  return JSON.parse(stdout) as string[];
}

describe('slim fleet build', () => {
  let ready = false;
  let work: { path: string; remove(): Promise<void> };
  const tags = new Set<string>();
  const identities = new Map<string, string>();
  const V1 = [
    { name: 'node-orders', version: 'v1' },
    { name: 'node-webhook', version: 'v1' },
    { name: 'py-catalog', version: 'v1' },
  ];
  let v1: FleetReport | undefined;
  let stateFile = '';

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    work = await tempDir('fleet');
    stateFile = join(work.path, 'fleet-state.json');
    for (const image of ['node-orders:v1', 'node-orders:v2', 'node-webhook:v1', 'node-queue:v1', 'py-catalog:v1']) {
      await requireFixture(`slim-fixture/${image}`);
      identities.set(image, await imageIdentity(`slim-fixture/${image}`));
    }
  });

  after(async () => {
    for (const tag of tags) await run('docker', ['rmi', tag]).catch(() => undefined);
    await work?.remove();
  });

  async function build(name: string, functions: Array<{ name: string; version: string; profile?: string }>, extra: string[] = []): Promise<{ code: number; report?: FleetReport; stderr: string }> {
    const file = join(work.path, `${name}.json`);
    await writeFile(file, JSON.stringify(fleetFile(functions), null, 2));
    for (const f of functions) tags.add(tagOf(f.name, f.version));
    const result = await slim(['fleet', 'build', file, '--state', stateFile, '--json', ...extra]);
    return { code: result.code, stderr: result.stderr, report: result.code === 0 || result.code === 1 ? (JSON.parse(result.stdout) as FleetReport) : undefined };
  }

  test('a fleet of two Node functions and a Python one: shared layers with one digest in every image, each image verified', async (t) => {
    if (!ready) return;
    const result = await build('v1', V1);
    assert.equal(result.code, 0, result.stderr);
    v1 = result.report!;
    assert.equal(v1.ok, true);
    assert.equal(v1.fresh, true);
    for (const f of v1.functions) {
      assert.equal(f.ok, true, f.name);
      assert.equal(f.verification.verified, true, f.name);
      assert.equal(f.verification.differing, 0, f.name);
      assert.ok(f.verification.requests >= 5, `${f.name}: ${f.verification.requests} requests replayed`);
      assert.equal(f.tag, tagOf(f.name.replace('slim-fixture/', ''), 'v1'));
    }
    assert.ok(v1.sharedLayers.length >= 2, `${v1.sharedLayers.length} shared layers`);
    // the images in the engine hold the shared layers exactly (same diff_id), bottom first, then their own
    const byName = new Map(v1.functions.map((f) => [f.name, f]));
    for (const layer of v1.sharedLayers) {
      assert.ok(layer.users.length >= 2, `${layer.id} is used by ${layer.users.join(', ')}`);
      for (const user of layer.users) {
        const f = byName.get(user)!;
        const inEngine = await layersOf(f.tag!);
        const position = f.layers.findIndex((l) => l.id === layer.id);
        assert.equal(inEngine[position], layer.diffId, `${user} holds ${layer.id} at position ${position}`);
      }
    }
    const [orders, webhook, catalog] = ['node-orders', 'node-webhook', 'py-catalog'].map((n) => byName.get(`slim-fixture/${n}`)!);
    const shared = (f: typeof orders) => f!.layers.filter((l) => l.shared).map((l) => l.digest);
    assert.ok(shared(orders).length >= 1 && shared(catalog).length >= 1);
    assert.equal(shared(orders)[0], shared(catalog)[0], 'the Node and the Python function stand on the same bottom layer (the Debian base they share)');
    assert.deepEqual(shared(webhook), shared(orders).slice(0, shared(webhook).length), 'both Node functions share the Node runtime layer');
    assert.ok(webhook!.warmNodeBytes < 0.1 * webhook!.coldNodeBytes, `on a node running the others, node-webhook pulls ${webhook!.warmNodeBytes} of ${webhook!.coldNodeBytes} bytes`);
    assert.ok(v1.totals.nodeBytes < v1.totals.imageBytes, 'a node running all three pulls less than the three images');
    // the state pins what was published
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as { layers: Array<{ id: string; digest: string }>; functions: Record<string, string[]> };
    assert.deepEqual(state.layers.map((l) => [l.id, l.digest]), v1.sharedLayers.map((l) => [l.id, l.digest]));
    assert.deepEqual(state.functions['slim-fixture/node-orders'], orders!.layers.filter((l) => l.shared).map((l) => l.id));
    // the slim images answer by themselves, and the originals are untouched
    for (const [image, identity] of identities) assert.equal(await imageIdentity(`slim-fixture/${image}`), identity, `${image} is unchanged`);
    t.diagnostic(`node bytes ${v1.totals.nodeBytes}, images ${v1.totals.imageBytes}, shared layers ${v1.sharedLayers.map((l) => `${l.id}:${l.users.length}`).join(' ')}`);
  });

  test('v2 of one function (from its profile) and a new function: pinned layers keep their digests, the newcomer gets a delta layer', async () => {
    if (!ready || !v1) return;
    // the function's own CI job traces it and hands over its profile
    const profile = join(work.path, 'node-orders-v2.profile.json');
    const traced = await slim(['analyze', 'slim-fixture/node-orders:v2', '--record', recording('node-orders'), '--profile-out', profile, '--json']);
    assert.equal(traced.code, 0, traced.stderr);
    const result = await build('v2', [{ name: 'node-orders', version: 'v2', profile }, { name: 'node-webhook', version: 'v1' }, { name: 'py-catalog', version: 'v1' }, { name: 'node-queue', version: 'v1' }]);
    assert.equal(result.code, 0, result.stderr);
    const v2 = result.report!;
    assert.equal(v2.fresh, false);
    for (const layer of v1.sharedLayers) {
      const again = v2.sharedLayers.find((l) => l.id === layer.id);
      if (again) assert.deepEqual([again.digest, again.diffId, again.pinned], [layer.digest, layer.diffId, true], `${layer.id} is pinned`);
    }
    const before = new Map(v1.functions.map((f) => [f.name, f]));
    const orders = v2.functions.find((f) => f.name === 'slim-fixture/node-orders')!;
    assert.equal(orders.keptBy, 'profile');
    assert.ok(orders.ok && orders.verification.ok);
    const ordersV1 = before.get(orders.name)!;
    assert.deepEqual(orders.layers.slice(0, -1).map((l) => l.digest), ordersV1.layers.slice(0, -1).map((l) => l.digest), 'node-orders v2 reuses every layer but its app layer');
    assert.notEqual(orders.layers.at(-1)!.digest, ordersV1.layers.at(-1)!.digest, 'the app layer changed');
    assert.equal(orders.layers.at(-1)!.id, 'app');
    for (const name of ['slim-fixture/node-webhook', 'slim-fixture/py-catalog']) {
      const f = v2.functions.find((x) => x.name === name)!;
      assert.deepEqual(f.layers.map((l) => l.digest), before.get(name)!.layers.map((l) => l.digest), `${name} is byte for byte as before`);
    }
    const queue = v2.functions.find((f) => f.name === 'slim-fixture/node-queue')!;
    assert.equal(queue.joined, true);
    assert.ok(queue.ok && queue.verification.ok);
    const pinnedIds = new Set(v1.sharedLayers.map((l) => l.id));
    const queueShared = queue.layers.filter((l) => l.shared);
    assert.ok(queueShared.some((l) => pinnedIds.has(l.id)), 'the newcomer stands on pinned layers');
    const deltas = v2.sharedLayers.filter((l) => l.delta);
    assert.ok(deltas.length >= 1 && deltas.every((d) => queueShared.some((l) => l.id === d.id)), 'its new files (the Express dependencies) are in a delta layer on top');
    assert.equal(v2.totals.deltaBytes, deltas.reduce((s, d) => s + d.compressedBytes, 0));
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as { layers: Array<{ id: string; delta: boolean }>; functions: Record<string, string[]> };
    assert.deepEqual(state.functions['slim-fixture/node-queue'], queueShared.map((l) => l.id));
    assert.ok(state.layers.some((l) => l.delta));
    for (const [image, identity] of identities) assert.equal(await imageIdentity(`slim-fixture/${image}`), identity, `${image} is unchanged`);
  });

  test('bench --fleet: one node starts each function in turn; a later function pulls almost nothing, a code change its app layer', async () => {
    if (!ready || !v1) return;
    const result = await slim(['bench', '--fleet', join(work.path, 'v2.json'), '--update-from', join(work.path, 'v1.json'), '--rounds', '1', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as FleetBenchReport;
    assert.deepEqual(report.variants.map((v) => v.variant), ['original', 'fleet'], 'no singleTag: originals against the fleet');
    const [original, fleet] = report.variants as [FleetBenchVariantReport, FleetBenchVariantReport];
    assert.deepEqual(fleet.steps.map((s) => s.name), report.functions);
    assert.ok(fleet.totals.pulledBytes < original.totals.pulledBytes / 3, `the node pulled ${fleet.totals.pulledBytes} bytes of fleet images against ${original.totals.pulledBytes} of originals`);
    const webhook = fleet.steps.find((s) => s.name === 'slim-fixture/node-webhook')!;
    assert.ok(webhook.pulledBytes < 0.1 * webhook.imageBytes, `after node-orders, node-webhook pulled ${webhook.pulledBytes} of ${webhook.imageBytes} bytes`);
    for (const s of fleet.steps) assert.ok(s.coldStart.median > 0 && s.firstRequestWarm.median > 0, s.name);
    const update = fleet.updates.find((u) => u.name === 'slim-fixture/node-orders');
    assert.ok(update && update.bytes > 0 && update.bytes < 100_000, `a node running v1 re-pulls ${update?.bytes} bytes for node-orders v2`);
    for (const [image, identity] of identities) assert.equal(await imageIdentity(`slim-fixture/${image}`), identity, `${image} is unchanged`);
  });

  test('Ctrl-C while a function is traced leaves no container, temporary file or image behind', async () => {
    if (!ready) return;
    const slimTmp = await tempDir('fleet-interrupt');
    try {
      const file = join(work.path, 'interrupt.json');
      await writeFile(file, JSON.stringify({ version: 1, functions: [{ image: 'slim-fixture/py-catalog:v1', recording: recording('py-catalog'), tag: 'slim-test/fleet-interrupt:v1' }] }));
      const imagesBefore = (await run('docker', ['images', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean).sort();
      const child = spawn(process.execPath, [CLI, '--verbose', 'fleet', 'build', file], { env: { ...process.env, SLIM_TMPDIR: slimTmp.path }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 120_000;
      const containers = async () => (await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary', '--filter', `label=slim.pid=${child.pid}`])).stdout.split('\n').filter(Boolean);
      while (!/tracing a run/.test(stderr) || (await containers()).length === 0) {
        assert.ok(Date.now() < deadline, `the trace never started: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGINT');
      assert.equal(await exited, 130, stderr);
      assert.deepEqual(await containers(), [], 'no temporary container left');
      assert.deepEqual(await listDir(slimTmp.path), [], 'no temporary file left');
      const imagesAfter = (await run('docker', ['images', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean).sort();
      assert.deepEqual(imagesAfter, imagesBefore, 'no image added or removed');
      await assert.rejects(run('docker', ['image', 'inspect', 'slim-test/fleet-interrupt:v1']));
    } finally {
      await slimTmp.remove();
    }
  });

  test('a state edited by hand is refused with a hint to --repack, and nothing is tagged', async () => {
    if (!ready || !v1) return;
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as { layers: Array<{ id: string; digest: string }>; functions: Record<string, string[]> };
    const catalogChain = state.functions['slim-fixture/py-catalog']!;
    const edited = state.layers.find((l) => l.id === catalogChain.at(-1))!;
    edited.digest = `sha256:${'0'.repeat(64)}`;
    const editedFile = join(work.path, 'edited-state.json');
    await writeFile(editedFile, JSON.stringify(state));
    const file = join(work.path, 'catalog-only.json');
    await writeFile(file, JSON.stringify({ version: 1, functions: [{ image: 'slim-fixture/py-catalog:v1', recording: recording('py-catalog'), tag: 'slim-test/fleet-edited:v1' }] }));
    const result = await slim(['fleet', 'build', file, '--state', editedFile]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, new RegExp(`shared layer ${edited.id} comes out as sha256:[0-9a-f]+, but the state pins sha256:0{64}`));
    assert.match(result.stderr, /--repack/);
    await assert.rejects(run('docker', ['image', 'inspect', 'slim-test/fleet-edited:v1']), 'no tag was created');
    assert.equal(JSON.parse(await readFile(editedFile, 'utf8')).layers.find((l: { id: string }) => l.id === edited.id).digest, edited.digest, 'the state file is left as it was');
  });

  test('one function failing verification fails the command with its diff; the others are still written and tagged', async () => {
    if (!ready) return;
    const file = join(work.path, 'one-fails.json');
    const failingTag = 'slim-test/fleet-fails:v1';
    const passingTag = 'slim-test/fleet-passes:v1';
    tags.add(failingTag).add(passingTag);
    await writeFile(
      file,
      JSON.stringify({
        version: 1,
        functions: [
          // without lodash the orders handler cannot start: its slim image never answers
          { image: 'slim-fixture/node-orders:v1', recording: recording('node-orders'), tag: failingTag, exclude: ['/app/node_modules/lodash/**'] },
          { image: 'slim-fixture/node-webhook:v1', recording: recording('node-webhook'), tag: passingTag },
        ],
      }),
    );
    const result = await slim(['fleet', 'build', file, '--json']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /1 of 2 functions failed verification: slim-fixture\/node-orders \(the others were written and tagged\)/);
    const report = JSON.parse(result.stdout) as FleetReport;
    const [failing, passing] = report.functions;
    assert.deepEqual([failing!.ok, failing!.tag, failing!.slimId], [false, null, null]);
    assert.match(failing!.failure!, /verification failed: the slim image answers differently from the original/);
    assert.match(failing!.failure!, /the slim image was removed and no tag was created/);
    assert.equal(passing!.ok, true);
    await assert.rejects(run('docker', ['image', 'inspect', failingTag]), 'the failing image is not tagged');
    assert.deepEqual(await layersOf(passingTag), passing!.layers.map((l) => l.diffId), 'the passing image is tagged');
    assert.equal(report.totals.failed, 1);
  });

  test('bad fleet files fail with exit 3 before any container starts', async () => {
    if (!ready) return;
    const before = await temporaryContainers();
    const cases: Array<{ what: string; fleet: unknown; error: RegExp }> = [
      { what: 'a missing image', fleet: { version: 1, functions: [{ image: 'slim-fixture/no-such-function:v1', recording: recording('node-orders') }] }, error: /functions\[0\]\.image slim-fixture\/no-such-function:v1 is not in the Docker engine/ },
      { what: 'a missing recording', fleet: { version: 1, functions: [{ image: 'slim-fixture/node-orders:v1', recording: join(work.path, 'nope.json') }] }, error: /nope\.json/ },
      {
        what: 'a duplicated tag',
        fleet: { version: 1, functions: [{ image: 'slim-fixture/node-orders:v1', recording: recording('node-orders'), tag: 'x/y:z' }, { image: 'slim-fixture/node-webhook:v1', recording: recording('node-webhook'), tag: 'x/y:z' }] },
        error: /functions\[1\]\.tag x\/y:z clashes with functions\[0\]/,
      },
      { what: 'an unknown field', fleet: { version: 1, functions: [{ image: 'slim-fixture/node-orders:v1', recording: recording('node-orders'), tga: 'a:b' }] }, error: /functions\[0\]\.tga is not a known field/ },
      { what: 'a budget out of range', fleet: { version: 1, functions: [{ image: 'slim-fixture/node-orders:v1', recording: recording('node-orders') }], layerBudget: 500 }, error: /layerBudget must be a whole number from 1 to 100/ },
      { what: 'a tag naming the original', fleet: { version: 1, functions: [{ image: 'slim-fixture/node-orders:v1', recording: recording('node-orders'), tag: 'slim-fixture/node-orders:v1' }] }, error: /names the original image/ },
    ];
    for (const c of cases) {
      const file = join(work.path, 'bad.json');
      await writeFile(file, JSON.stringify(c.fleet));
      const result = await slim(['fleet', 'build', file]);
      assert.equal(result.code, 3, `${c.what}: ${result.stderr}`);
      assert.match(result.stderr, c.error, c.what);
      assert.doesNotMatch(result.stderr, /\n\s+at /, `${c.what}: no stack trace`);
    }
    const badState = join(work.path, 'bad-state.json');
    await writeFile(badState, JSON.stringify({ version: 1, sourceDateEpoch: 0, layers: [{ id: 'shared-1', parent: null, members: [], delta: false, diffId: 'x', digest: 'y', size: 1, entries: [] }], functions: {} }));
    const goodFleet = join(work.path, 'good.json');
    await writeFile(goodFleet, JSON.stringify(fleetFile([{ name: 'node-orders', version: 'v1' }])));
    const result = await slim(['fleet', 'build', goodFleet, '--state', badState]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /layers\[0\]\.diffId must be a sha256/);
    assert.match(result.stderr, /--repack/);
    assert.equal((await slim(['fleet', 'build', goodFleet, '--repack'])).code, 2, '--repack without --state is a usage error');
    assert.deepEqual(await temporaryContainers(), before, 'no container was started');
  });
});
