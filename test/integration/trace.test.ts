import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ImageAnalysis } from '../../src/analyze/analysis.js';
import { CLI, engineOrSkip, imageId, listDir, NODE_EXPRESS, REPO, requireFixture, run, slim, tempDir } from './support.js';

const RECORDING = join(REPO, 'fixtures/node-express/recording.json');

interface ProfileDoc {
  kept: Array<{ path: string; reasons: string[]; bytes: number }>;
  failures: Array<{ path: string; errno: string }>;
  timeline: Record<string, number | null>;
  syscalls: Record<string, number>;
}

async function temporaryContainers(): Promise<string> {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary']);
  return stdout.trim();
}

describe('tracing node-express with its recording', () => {
  let work: { path: string; remove(): Promise<void> };
  let slimTmp: string;
  let originalId = '';
  let ready = false;
  let analysis: ImageAnalysis;
  let profile: ProfileDoc;

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    originalId = await requireFixture(NODE_EXPRESS);
    work = await tempDir('trace');
    slimTmp = join(work.path, 'tmp');
    await run('mkdir', ['-p', slimTmp]);
    const profileFile = join(work.path, 'profile.json');
    const result = await slim(['analyze', NODE_EXPRESS, '--record', RECORDING, '--json', '--profile-out', profileFile], { SLIM_TMPDIR: slimTmp });
    assert.equal(result.code, 0, result.stderr);
    analysis = JSON.parse(result.stdout) as ImageAnalysis;
    profile = JSON.parse(await readFile(profileFile, 'utf8')) as ProfileDoc;
  });
  after(async () => {
    await work?.remove();
  });

  test('every request of the recording was replayed with the expected status', (t) => {
    if (!ready) return t.skip('no engine');
    const trace = analysis.trace!;
    assert.deepEqual(
      trace.requests.map((r) => `${r.name} ${r.status}`),
      ['GET /health 200', 'initialize #1 200', 'invoke #1 200', 'invoke #2 200', 'invoke #3 400', 'invoke #4 400', 'GET /no-such-route 404'],
    );
    assert.deepEqual(trace.command, ['node', 'server.js']);
  });

  test('the profile holds node, libnode and its libraries, express and the app', (t) => {
    if (!ready) return t.skip('no engine');
    const kept = new Map(profile.kept.map((k) => [k.path, k.reasons]));
    assert.ok(kept.get('/usr/bin/node')?.includes('traced-exec'), 'node was exec-ed');
    const libnode = profile.kept.find((k) => /^\/usr\/lib\/x86_64-linux-gnu\/libnode\.so\.\d+$/.test(k.path));
    assert.ok(libnode?.reasons.includes('traced-mmap') || libnode?.reasons.includes('traced-open'), 'libnode was loaded');
    for (const lib of ['libuv.so.1', 'libc.so.6', 'libstdc++.so.6', 'libssl.so.3', 'libcrypto.so.3']) {
      assert.ok(profile.kept.some((k) => k.path === `/usr/lib/x86_64-linux-gnu/${lib}` || k.path.startsWith(`/usr/lib/x86_64-linux-gnu/${lib}`)), `${lib} kept`);
    }
    assert.ok(profile.kept.some((k) => /ld-linux-x86-64\.so\.2$/.test(k.path) && k.reasons.some((r) => r.startsWith('traced') || r === 'elf-interpreter')));
    assert.ok(kept.get('/app/server.js')?.includes('traced-open'), 'the app file was read');
    assert.ok(kept.get('/app/node_modules/express/index.js'), 'express is kept');
    assert.ok(kept.get('/app/node_modules/lodash/lodash.js'), 'lodash is kept');
    assert.ok(kept.get('/app/node_modules/express/package.json'));
    // merged /usr: the /lib64 symlink on the way to the loader is kept as a symlink
    assert.ok(profile.kept.some((k) => k.path === '/lib64' && k.reasons.includes('symlink')));
    // nft adds what the run did not load, e.g. express's view engine support
    assert.ok(profile.kept.some((k) => k.reasons.includes('nft') && !k.reasons.some((r) => r.startsWith('traced'))), 'nft added files the run did not touch');
    // not used: docs, apt lists, the shell
    assert.ok(!profile.kept.some((k) => k.path.startsWith('/usr/share/doc/')));
    assert.ok(!profile.kept.some((k) => k.path.startsWith('/var/lib/apt/lists/')));
    assert.ok(!kept.has('/usr/bin/bash'));
    assert.ok(profile.failures.some((f) => f.errno === 'ENOENT'), 'failed lookups are kept apart');
    assert.ok(!profile.kept.some((k) => k.path.startsWith('/proc/')), 'virtual paths are not kept');
    assert.ok((profile.syscalls.openat ?? 0) > 100);
  });

  test('analyze reports used bytes against the whole image', (t) => {
    if (!ready) return t.skip('no engine');
    const trace = analysis.trace!;
    assert.ok(trace.tracedBytes > 50_000_000, `traced ${trace.tracedBytes}`);
    assert.ok(trace.keptBytes >= trace.tracedBytes);
    assert.ok(trace.keptBytes < analysis.visibleBytes * 0.5, 'the function uses well under half of the image');
    assert.equal(trace.visibleBytes, analysis.visibleBytes);
    assert.equal(trace.estimatedSlimBytes, trace.keptBytes);
    const keptBytes = profile.kept.reduce((s, k) => s + k.bytes, 0);
    assert.equal(keptBytes, trace.keptBytes, 'the profile and the summary agree');
    assert.ok(trace.removablePackages.some((p) => p.name === 'perl-base' || p.name.startsWith('libperl')), 'perl is removable');
    assert.ok(trace.keptPackages.some((p) => p.name.startsWith('libnode')));
    assert.ok(trace.removableDirectories.some((d) => d.path === '/usr/share/doc' || d.path === '/usr/share'));
  });

  test('the cold-start timeline is ordered', (t) => {
    if (!ready) return t.skip('no engine');
    const tl = analysis.trace!.timeline;
    for (const key of ['firstExecMs', 'listeningMs', 'firstAcceptMs', 'firstResponseMs'] as const) {
      assert.equal(typeof tl[key], 'number', key);
    }
    assert.ok(tl.firstExecMs! >= 0);
    assert.ok(tl.firstExecMs! <= tl.listeningMs!);
    assert.ok(tl.listeningMs! <= tl.firstAcceptMs!);
    assert.ok(tl.firstAcceptMs! <= tl.firstResponseMs!);
    assert.ok(tl.readyMs >= tl.listeningMs!);
  });

  test('nothing is left behind and the image is unchanged', async (t) => {
    if (!ready) return t.skip('no engine');
    assert.equal(await temporaryContainers(), '');
    assert.deepEqual(await listDir(slimTmp), []);
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('the table report shows the traced run', async (t) => {
    if (!ready) return t.skip('no engine');
    const table = await slim(['analyze', NODE_EXPRESS, '--record', RECORDING, '--top', '3']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^Traced run$/m);
    assert.match(table.stdout, /^traced floor\s+\d/m);
    assert.match(table.stdout, /^Removable Debian packages \(no file used\)$/m);
  });

  test('Ctrl-C while the function runs under the tracer removes the container and temp files', async (t) => {
    if (!ready) return t.skip('no engine');
    const slow = join(work.path, 'slow.json');
    await writeFile(slow, JSON.stringify({ readiness: { http: '/health', timeoutMs: 60000 }, steps: [{ request: { method: 'GET', path: '/health' } }] }));
    const child = spawn(process.execPath, [CLI, 'analyze', NODE_EXPRESS, '--record', slow], {
      env: { ...process.env, SLIM_TMPDIR: slimTmp },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 120_000;
    while ((await temporaryContainers()) === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.notEqual(await temporaryContainers(), '', 'a traced container was started');
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /SIGINT: cleaning up/);
    assert.equal(await temporaryContainers(), '');
    assert.deepEqual(await listDir(slimTmp), []);
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });
});
