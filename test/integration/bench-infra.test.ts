import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, describe, test } from 'node:test';
import { startBenchEngine, type BenchEngine } from '../../src/bench/bench-engine.js';
import { startRegistry, type Registry } from '../../src/bench/registry.js';
import { createShapedLink, type ShapedLink } from '../../src/bench/shaped-link.js';
import { runAllCleanups } from '../../src/cleanup.js';
import { engineOrSkip, requireFixture, run } from './support.js';

const BASE = 'slim-fixture-base:bookworm';

async function toolsOrSkip(t: { skip(message: string): void }): Promise<boolean> {
  if (!(await engineOrSkip(t))) return false;
  const missing: string[] = [];
  for (const tool of ['dockerd', 'docker-registry', 'skopeo', 'ip', 'tc']) {
    await run('sh', ['-c', `command -v ${tool}`]).catch(() => missing.push(tool));
  }
  if (missing.length === 0) return true;
  if (process.env.CI) throw new Error(`${missing.join(', ')} missing, and CI=true requires the bench tests to run (scripts/setup.sh installs them)`);
  t.skip(`${missing.join(', ')} not installed`);
  return false;
}

async function mainImage(reference: string): Promise<{ id: string; tags: string[] }> {
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{json .}}', reference]);
  const info = JSON.parse(stdout) as { Id: string; RepoTags: string[] };
  return { id: info.Id, tags: [...info.RepoTags].sort() };
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function processesMentioning(text: string): Promise<string[]> {
  const { stdout } = await run('ps', ['-eo', 'pid,args']);
  return stdout.split('\n').filter((line) => line.includes(text) && !line.includes('ps -eo'));
}

describe('bench infrastructure: a throwaway engine, a registry, a shaped link', () => {
  let engine: BenchEngine | undefined;
  let registry: Registry | undefined;
  let link: ShapedLink | undefined;
  const traces = { engineDir: '', enginePid: 0, registryDirs: [] as string[], registryPids: [] as number[], netns: '', veths: [] as string[], containerdNamespace: '' };
  let ran = false;
  const before = { id: '', tags: [] as string[] };

  after(async () => {
    await runAllCleanups();
  });

  test('cold pulls from a loopback registry, and a full removal between them', async (t) => {
    if (!(await toolsOrSkip(t))) return;
    ran = true;
    await requireFixture(BASE);
    Object.assign(before, await mainImage(BASE));

    let s = Date.now();
    engine = await startBenchEngine();
    t.diagnostic(`bench engine (${engine.storageDriver}) up in ${Date.now() - s} ms`);
    traces.containerdNamespace = engine.containerdNamespace;
    traces.engineDir = engine.dataRoot.replace(/\/data$/, '');
    traces.enginePid = Number((await run('cat', [`${traces.engineDir}/docker.pid`])).stdout.trim());
    assert.ok(alive(traces.enginePid));
    assert.equal((await engine.docker.listImages({ all: true })).length, 0);
    assert.equal(await engine.hasLayers(), false);

    s = Date.now();
    registry = await startRegistry();
    t.diagnostic(`registry on ${registry.address} up in ${Date.now() - s} ms`);
    traces.registryDirs.push(dirname(registry.logFile ?? ''));
    traces.registryPids.push(...(await processesMentioning(traces.registryDirs[0])).map((l) => Number(l.trim().split(' ')[0])));

    s = Date.now();
    const pushed = await registry.push(BASE, 'bench/base', 'v1');
    t.diagnostic(`push of ${pushed.layers.length} layer(s), ${pushed.bytes} bytes, in ${Date.now() - s} ms`);
    assert.ok(pushed.layers.length > 0);
    assert.ok(pushed.layers.every((l) => /^sha256:[0-9a-f]{64}$/.test(l.digest) && l.size > 0));

    const first = await engine.pull(pushed.reference);
    t.diagnostic(`cold pull: ${first.bytes} bytes in ${first.seconds.toFixed(2)} s`);
    assert.ok(first.seconds > 0);
    assert.ok(first.bytes > 0);
    assert.equal(first.bytes, pushed.bytes);
    assert.equal(first.downloaded.length, pushed.layers.length);
    assert.equal(await engine.hasLayers(), true);

    await engine.removeImageCompletely(pushed.reference);
    assert.deepEqual(await engine.docker.listImages({ all: true }), []);
    assert.equal(await engine.hasLayers(), false);
    const df = (await engine.docker.df()) as { Images: unknown[]; LayersSize: number };
    assert.equal(df.Images.length, 0);
    assert.equal(df.LayersSize, 0);

    const second = await engine.pull(pushed.reference);
    t.diagnostic(`second cold pull: ${second.bytes} bytes in ${second.seconds.toFixed(2)} s`);
    assert.equal(second.bytes, pushed.bytes);
    assert.equal(second.downloaded.length, pushed.layers.length);

    // a warm pull downloads nothing
    const warm = await engine.pull(pushed.reference);
    assert.equal(warm.bytes, 0);
    await engine.removeImageCompletely(pushed.reference);

    await registry.stop();
    assert.deepEqual(await mainImage(BASE), before, 'the main engine image must keep its ID and tags');
  });

  test('a pull through a 200mbit shaped link is slower than 30 MB/s', async (t) => {
    if (!ran) return t.skip('no bench engine');
    assert.ok(engine);
    await assert.rejects(createShapedLink({ rate: '200 mbit' }), /invalid bandwidth/);

    link = await createShapedLink({ rate: '200mbit' });
    traces.netns = link.netns;
    const id = link.netns.slice(-4);
    traces.veths = [`sb-${id}-h`, `sb-${id}-n`];
    assert.match(link.netns, new RegExp(`^slim-bench-${process.pid}-[0-9a-f]{4}$`));
    for (const veth of traces.veths) assert.ok(veth.length <= 15, `${veth} fits IFNAMSIZ`);
    assert.match(link.nsAddress, /^198\.18\.\d+\.2$/);
    assert.ok((await run('ip', ['netns', 'list'])).stdout.includes(link.netns));

    registry = await startRegistry({ host: link.nsAddress, netns: link.netns });
    traces.registryDirs.push(dirname(registry.logFile ?? ''));
    traces.registryPids.push(...(await processesMentioning(traces.registryDirs[1])).map((l) => Number(l.trim().split(' ')[0])));
    assert.ok(registry.address.startsWith(`${link.nsAddress}:`));

    let s = Date.now();
    const pushed = await registry.push(BASE, 'bench/base', 'shaped');
    t.diagnostic(`push over the link: ${pushed.bytes} bytes in ${Date.now() - s} ms`);

    await engine.removeImageCompletely('does-not-exist:here'); // nothing to remove is not an error
    assert.equal(await engine.hasLayers(), false);
    const pulled = await engine.pull(pushed.reference);
    const mbPerSecond = pulled.bytes / pulled.seconds / 1e6;
    t.diagnostic(`shaped cold pull: ${pulled.bytes} bytes in ${pulled.seconds.toFixed(2)} s = ${mbPerSecond.toFixed(1)} MB/s`);
    assert.equal(pulled.bytes, pushed.bytes);
    assert.ok(mbPerSecond < 30, `${mbPerSecond.toFixed(1)} MB/s through a 200 mbit link`);

    s = Date.now();
    await registry.stop();
    await link.remove();
    await engine.stop();
    t.diagnostic(`teardown in ${Date.now() - s} ms`);
    assert.deepEqual(await mainImage(BASE), before, 'the main engine image must keep its ID and tags');
  });

  test('nothing is left behind', async (t) => {
    if (!ran) return t.skip('no bench engine');
    await runAllCleanups();
    // only what this run made is checked: other runs on this shared machine may have their own in flight
    const netns = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(!netns.includes(traces.netns), `namespace ${traces.netns} left: ${netns}`);
    const links = (await run('ip', ['-o', 'link'])).stdout;
    for (const veth of traces.veths) assert.ok(!links.includes(veth), `${veth} left`);
    assert.equal(alive(traces.enginePid), false, 'the bench dockerd still runs');
    for (const pid of traces.registryPids) assert.equal(alive(pid), false, `registry ${pid} still runs`);
    assert.deepEqual(await processesMentioning(traces.engineDir), []);
    for (const dir of [traces.engineDir, ...traces.registryDirs]) assert.equal(existsSync(dir), false, `${dir} left`);
    const namespaces = (await run('ctr', ['namespaces', 'ls', '-q'])).stdout.split('\n');
    assert.ok(!namespaces.some((ns) => ns.startsWith(traces.containerdNamespace)), `containerd namespace ${traces.containerdNamespace} left`);
    const mounts = (await run('cat', ['/proc/self/mountinfo'])).stdout;
    assert.ok(!mounts.includes(traces.engineDir), 'a mount under the bench engine dir is left');
  });
});
