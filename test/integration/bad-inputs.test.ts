/**
 * The bad-input suite (issue 7): one test per kind of bad input, each through the CLI. Every failure
 * must be one line starting with `slim: ` that names the problem (plus at most a hint line), exit
 * with the documented code (usage 2, input 3, runtime 1, environment 4), print no stack trace, and
 * leave nothing behind: no temporary directory in this suite's SLIM_TMPDIR, no temporary container,
 * and the engine's original image untouched. Legal-but-hostile inputs must work.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ImageAnalysis } from '../../src/analyze/analysis.js';
import type { BuildReport } from '../../src/build/report.js';
import {
  arm64Archive,
  arm64OnlyIndex,
  digestMismatch,
  dotDotLayer,
  HOSTILE,
  hostileLayer,
  layerArchive,
  loadArchive,
  loadDerivedImage,
  notAnImage,
  notATar,
  rawTar,
  sparseLayer,
  SPARSE_SIZE,
  truncatedLayer,
  UNKNOWN_MEDIA_TYPE,
  unknownMediaType,
} from '../helpers/crafted-images.js';
import { engineOrSkip, imageId, listDir, NODE_EXPRESS, REPO, requireFixture, run, slim, tempDir, type CliResult } from './support.js';

const RECORDING = join(REPO, 'fixtures/node-express/recording.json');
const BASE = 'slim-fixture-base:bookworm';
const ARM64_TAG = 'slim-test/arm64-only:v1';
const HOSTILE_TAG = 'slim-test/hostile:v1';
const HOSTILE_SLIM_TAG = 'slim-test/hostile:v1-slim';
const CREATED_TAGS = [ARM64_TAG, HOSTILE_TAG, HOSTILE_SLIM_TAG];

/** One error line naming the problem, at most a hint after it, no stack trace, nothing on stdout. */
function assertOneLineError(result: CliResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, `exit code ${result.code}, stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  const lines = result.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, /^slim: /, result.stderr);
  assert.match(lines[0]!, message, result.stderr);
  assert.ok(lines.length <= 2, `one line and at most a hint: ${result.stderr}`);
  assertNoStackTrace(result.stderr);
}

/** One error line, then the function's own log (documented: its last 50 lines); returns the log lines. */
function assertErrorWithLog(result: CliResult, code: number, message: RegExp): string[] {
  assert.equal(result.code, code, `exit code ${result.code}, stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  const [first, marker, ...log] = result.stderr.trimEnd().split('\n');
  assert.match(first!, message, result.stderr);
  assert.equal(marker, '--- last 50 log lines ---', result.stderr);
  assert.ok(log.length <= 50, result.stderr);
  assertNoStackTrace(result.stderr);
  return log;
}

function assertNoStackTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at .*:\d+:\d+\)?$/m, `no stack trace: ${stderr}`);
  assert.doesNotMatch(stderr, /unexpected error/, `an expected failure is not "unexpected": ${stderr}`);
}

/**
 * Temporary containers a finished slim left behind: those whose owner process (label slim.pid) is
 * gone. Containers of slim processes still running (other suites) are theirs to remove.
 */
async function orphanContainers(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '--filter', 'label=slim.temporary', '--format', '{{.ID}} {{.Label "slim.pid"}} {{.Label "slim.host"}}']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .filter((line) => {
      const [, pid, host] = line.split(' ');
      if (host !== hostname()) return false;
      try {
        process.kill(Number(pid), 0);
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code !== 'EPERM';
      }
    });
}

/** Containers slim created from one of `images` (by name or ID) between two times (docker events keeps them after removal). */
async function containersCreatedFrom(images: string[], since: number, until: number): Promise<string[]> {
  const { stdout } = await run('docker', [
    'events', '--since', String(since), '--until', String(until),
    '--filter', 'type=container', '--filter', 'event=create', '--filter', 'label=slim.temporary=true', '--format', '{{json .Actor.Attributes}}',
  ]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, string>)
    .filter((a) => images.includes(a.image ?? ''))
    .map((a) => a.name ?? '?');
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A tmpfs mounted for one test, unmounted (and its mount point removed) afterwards. */
async function withTmpfs<T>(dir: string, options: string, body: (mountPoint: string) => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  try {
    return await body(dir);
  } finally {
    await run('umount', [dir]);
  }
}

describe('bad inputs: one clear line, a documented exit code, nothing left behind', () => {
  let work: { path: string; remove(): Promise<void> };
  let slimTmp: string;
  let crafted: string;
  let ready = false;
  let originalId = '';
  let hostileArchive = '';
  let namesArchive = '';

  /** Runs slim with this suite's SLIM_TMPDIR; the checks every row shares come after. */
  async function slimRun(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return slim(args, { SLIM_TMPDIR: slimTmp, SLIM_DEBUG: '', ...env });
  }

  async function assertNothingLeft(): Promise<void> {
    assert.deepEqual(await listDir(slimTmp), [], 'no temporary directory is left');
    assert.deepEqual(await orphanContainers(), [], 'no temporary container is left');
  }

  async function recording(name: string, value: unknown): Promise<string> {
    const file = join(work.path, `${name}.json`);
    await writeFile(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  }

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    originalId = await requireFixture(NODE_EXPRESS);
    await requireFixture(BASE);
    work = await tempDir('bad-inputs');
    slimTmp = join(work.path, 'tmp');
    crafted = join(work.path, 'crafted');
    await mkdir(slimTmp);
    await mkdir(crafted);
    for (const tag of CREATED_TAGS) await run('docker', ['rmi', tag]).catch(() => undefined);
    hostileArchive = await layerArchive(crafted, 'hostile', hostileLayer());
    namesArchive = await layerArchive(
      crafted,
      'names',
      rawTar([
        { name: 'names/', type: 'dir' },
        { name: HOSTILE.newlineName, content: Buffer.alloc(3000, 0x6e) },
        { name: HOSTILE.terminalEscapeName, content: Buffer.alloc(2500, 0x65) },
        { name: HOSTILE.invalidUtf8Name, content: Buffer.alloc(2000, 0x62) },
        { name: 'names/pax-placeholder', content: Buffer.alloc(1000, 0x70), pax: { path: HOSTILE.paxInvalidUtf8Name } },
      ]),
    );
  });
  after(async () => {
    if (!ready) return;
    for (const tag of CREATED_TAGS) await run('docker', ['rmi', tag]).catch(() => undefined);
    await work?.remove();
  });

  // ---- where the image comes from ----

  test('an image that does not exist: exit 3', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', 'slim-test/no-such-image:v1']);
    assertOneLineError(result, 3, /image slim-test\/no-such-image:v1 not found in the Docker engine/);
    await assertNothingLeft();
  });

  test('the Docker engine is down: exit 4', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', NODE_EXPRESS], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    assertOneLineError(result, 4, /Docker engine unreachable at unix:\/\/\/nonexistent\.sock/);
    await assertNothingLeft();
  });

  test('an archive that is not an image: exit 3', async (t) => {
    if (!ready) return t.skip('no engine');
    const path = await notAnImage(crafted);
    const result = await slimRun(['analyze', path]);
    assertOneLineError(result, 3, /not-an-image\.tar is not an image: it is neither a docker-archive \(manifest\.json\) nor an OCI layout/);
    await assertNothingLeft();
  });

  test('a file that is not a tar at all: exit 3', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', await notATar(crafted)]);
    assertOneLineError(result, 3, /random\.bin is not a tar archive/);
    await assertNothingLeft();
  });

  test('a truncated layer: exit 3 naming the layer', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', `oci:${await truncatedLayer(crafted)}`]);
    assertOneLineError(result, 3, /^slim: layer 0 \([0-9a-f]{12}\).*(truncated|corrupt|does not match its digest)/);
    await assertNothingLeft();
  });

  test('a docker-archive cut short inside a layer: exit 3 naming the layer file', async (t) => {
    if (!ready) return t.skip('no engine');
    const whole = await layerArchive(crafted, 'to-cut', rawTar([{ name: 'srv/big.bin', content: Buffer.alloc(64 * 1024, 0x61) }]));
    const data = await readFile(whole);
    const cut = join(crafted, 'cut.tar');
    await writeFile(cut, data.subarray(0, data.length - 40 * 1024));
    const result = await slimRun(['analyze', cut]);
    assertOneLineError(result, 3, /cut\.tar is truncated: member \S*layer\S* needs \d+ bytes past the end of the file/);
    await assertNothingLeft();
  });

  test('a layer whose digest does not match the manifest: exit 3 naming the layer', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', await digestMismatch(crafted)]);
    assertOneLineError(result, 3, /^slim: layer 1 \([0-9a-f]{12}\)'s content does not match its digest: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$/);
    await assertNothingLeft();
  });

  test('a layer of an unknown media type: exit 3 naming the layer and the type', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', `oci:${await unknownMediaType(crafted)}`]);
    assertOneLineError(result, 3, new RegExp(`layer 0 in \\S+ has unsupported media type ${UNKNOWN_MEDIA_TYPE.replace(/\./g, '\\.')}`));
    await assertNothingLeft();
  });

  test('an image index with only a linux/arm64 manifest: exit 3', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', `oci:${await arm64OnlyIndex(crafted)}`]);
    assertOneLineError(result, 3, /image index in \S+ has no linux\/amd64 entry \(it has linux\/arm64\)/);
    await assertNothingLeft();
  });

  // ---- an arm64 image in the engine: readable, not runnable here ----

  describe('an arm64 image in the engine', () => {
    let armId = '';
    before(async () => {
      if (!ready) return;
      await loadArchive(await arm64Archive(ARM64_TAG)(crafted));
      armId = await imageId(ARM64_TAG);
    });

    test('static analysis reads it and reports linux/arm64', async (t) => {
      if (!ready) return t.skip('no engine');
      const result = await slimRun(['analyze', ARM64_TAG, '--json']);
      assert.equal(result.code, 0, result.stderr);
      const analysis = JSON.parse(result.stdout) as ImageAnalysis;
      assert.equal(analysis.image.architecture, 'arm64');
      assert.equal(analysis.image.os, 'linux');
      await assertNothingLeft();
      assert.equal(await imageId(ARM64_TAG), armId);
    });

    for (const command of ['analyze', 'build'] as const) {
      test(`${command} --record fails with exit 3 before creating any container`, async (t) => {
        if (!ready) return t.skip('no engine');
        const since = Math.floor(Date.now() / 1000) - 1;
        const result = await slimRun([command, ARM64_TAG, '--record', RECORDING]);
        const until = Math.ceil(Date.now() / 1000) + 1;
        assertOneLineError(result, 3, /image slim-test\/arm64-only:v1 is linux\/arm64, and tracing runs it: it needs linux\/amd64/);
        assert.deepEqual(await containersCreatedFrom([ARM64_TAG, armId], since, until), [], 'no container was created');
        await assertNothingLeft();
        assert.equal(await imageId(ARM64_TAG), armId);
      });
    }
  });

  // ---- recordings and functions that do not work ----

  test('a recording that is not valid JSON: exit 3', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', NODE_EXPRESS, '--record', await recording('invalid-json', '{ "steps": [')]);
    assertOneLineError(result, 3, /invalid-json\.json is not valid JSON/);
    await assertNothingLeft();
  });

  test('a recording with a bad field: exit 3 naming the field', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', NODE_EXPRESS, '--record', await recording('bad-field', { steps: [{ invoke: { method: 'FETCH' } }] })]);
    assertOneLineError(result, 3, /bad-field\.json: steps\[0\]\.invoke\.method must be one of/);
    await assertNothingLeft();
  });

  test('an image with no ENTRYPOINT or CMD: exit 3', async (t) => {
    if (!ready) return t.skip('no engine');
    const baseId = await imageId(BASE);
    const result = await slimRun(['analyze', BASE, '--record', await recording('empty-cmd', { command: [], steps: [{ invoke: {} }] })]);
    assertOneLineError(result, 3, /image slim-fixture-base:bookworm has no ENTRYPOINT or CMD/);
    await assertNothingLeft();
    assert.equal(await imageId(BASE), baseId);
  });

  test('an entrypoint that is not in the image: exit 3', async (t) => {
    if (!ready) return t.skip('no engine');
    const file = await recording('missing-entrypoint', { entrypoint: ['/usr/bin/no-such-program'], steps: [{ invoke: {} }] });
    const result = await slimRun(['analyze', NODE_EXPRESS, '--record', file]);
    assertOneLineError(result, 3, /the entrypoint \/usr\/bin\/no-such-program is not in image slim-fixture\/node-express:v1/);
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('the app crashes at start: exit 1 with its exit code and its log', async (t) => {
    if (!ready) return t.skip('no engine');
    const file = await recording('crash', { command: ['node', '-e', 'console.log("boom"); process.exit(7)'], steps: [{ invoke: {} }] });
    const result = await slimRun(['analyze', NODE_EXPRESS, '--record', file]);
    const log = assertErrorWithLog(result, 1, /^slim: the function exited with code 7 before it was ready/);
    assert.deepEqual(log, ['boom']);
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('the app never becomes ready: exit 1', async (t) => {
    if (!ready) return t.skip('no engine');
    const file = await recording('never-ready', { command: ['node', '-e', 'setTimeout(() => {}, 600000)'], readiness: { http: '/', timeoutMs: 1500 }, steps: [{ invoke: {} }] });
    const result = await slimRun(['analyze', NODE_EXPRESS, '--record', file]);
    assertOneLineError(result, 1, /was not ready after 1500 ms/);
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('a request hangs: exit 1 naming the request', async (t) => {
    if (!ready) return t.skip('no engine');
    const file = await recording('hang', {
      command: ['node', '-e', 'require("http").createServer((q, s) => { if (q.url !== "/slow") s.end("ok"); }).listen(process.env.PORT)'],
      steps: [{ request: { method: 'GET', path: '/slow', timeoutMs: 1000 } }],
    });
    const result = await slimRun(['analyze', NODE_EXPRESS, '--record', file]);
    assertOneLineError(result, 1, /request "GET \/slow" \(GET \/slow\) got no answer within 1000 ms/);
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('a request answers an unexpected status: exit 1', async (t) => {
    if (!ready) return t.skip('no engine');
    const file = await recording('unexpected-status', { steps: [{ request: { method: 'GET', path: '/health', expectStatus: 201 } }] });
    const result = await slimRun(['analyze', NODE_EXPRESS, '--record', file]);
    const log = assertErrorWithLog(result, 1, /request "GET \/health" \(GET \/health\) answered 200, the recording expects 201/);
    assert.ok(log.some((line) => /listening on port/.test(line)), log.join('\n'));
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  // ---- tar entries: refused like Docker refuses them, or legal and handled ----

  test('an entry with .. that climbs out of the root: exit 3 naming the entry and the layer', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['analyze', await layerArchive(crafted, 'dotdot', dotDotLayer('srv/../../escape.txt'))]);
    assertOneLineError(result, 3, /^slim: layer 1 \([0-9a-f]{12}\): entry "srv\/\.\.\/\.\.\/escape\.txt" climbs out of the image root$/);
    await assertNothingLeft();
  });

  /** Static analysis of a crafted archive, as JSON. */
  async function analyzeJson(path: string, extra: string[] = []): Promise<ImageAnalysis> {
    const result = await slimRun(['analyze', path, '--json', '--top', '50', ...extra]);
    assert.equal(result.code, 0, result.stderr);
    assertNoStackTrace(result.stderr);
    const analysis = JSON.parse(result.stdout) as ImageAnalysis;
    await assertNothingLeft();
    return analysis;
  }

  test('absolute entry names are made relative, as Docker does', async (t) => {
    if (!ready) return t.skip('no engine');
    const analysis = await analyzeJson(hostileArchive);
    assert.ok(analysis.largest.files.some((f) => f.path === '/hostile/absolute-entry.txt'), JSON.stringify(analysis.largest.files));
    assert.ok(!analysis.largest.files.some((f) => f.path.startsWith('//')));
    assert.deepEqual(analysis.problems, []);
  });

  test('symlinks escaping the root (relative and absolute) are legal: analyze works', async (t) => {
    if (!ready) return t.skip('no engine');
    // that resolution clamps them at the image root is checked in test/unit/image-fs and in the hostile build below
    const analysis = await analyzeJson(hostileArchive);
    const layer = analysis.layers[1]!;
    assert.equal(layer.fileCount, 15, 'every non-directory entry of the hostile layer counts, the symlinks included');
    assert.deepEqual(analysis.problems, []);
  });

  test('symlink loops are legal: analyze works and does not hang', async (t) => {
    if (!ready) return t.skip('no engine');
    const loops = await layerArchive(
      crafted,
      'loops',
      rawTar([
        { name: 'l/a', type: 'symlink', linkname: 'b' },
        { name: 'l/b', type: 'symlink', linkname: 'a' },
        { name: 'l/self', type: 'symlink', linkname: 'self' },
        { name: 'l/deep', type: 'symlink', linkname: 'deep/deep/deep' },
        { name: 'l/x/y', type: 'symlink', linkname: '../../l/x' },
      ]),
    );
    const analysis = await analyzeJson(loops);
    assert.equal(analysis.layers[1]!.fileCount, 5);
  });

  test('device nodes and FIFOs are legal: analyze counts them', async (t) => {
    if (!ready) return t.skip('no engine');
    const devices = await layerArchive(
      crafted,
      'devices',
      rawTar([
        { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 },
        { name: 'run/fifo', type: 'fifo' },
      ]),
    );
    const analysis = await analyzeJson(devices);
    assert.equal(analysis.layers[1]!.fileCount, 3);
    assert.equal(analysis.fileCount, 3 + 2, 'the base layer has two files');
    assert.equal(analysis.layers[1]!.bytes, 0);
  });

  test('setuid and setgid files are legal: analyze works', async (t) => {
    if (!ready) return t.skip('no engine');
    const setuid = await layerArchive(
      crafted,
      'setuid',
      rawTar([
        { name: 'usr/bin/su', content: Buffer.alloc(4000, 1), mode: 0o4755 },
        { name: 'usr/bin/wall', content: Buffer.alloc(3000, 1), mode: 0o2755, gid: 5 },
      ]),
    );
    const analysis = await analyzeJson(setuid);
    assert.deepEqual(
      analysis.largest.files.slice(0, 2).map((f) => [f.path, f.bytes]),
      [
        ['/usr/bin/su', 4000],
        ['/usr/bin/wall', 3000],
      ],
    );
  });

  test('names with a newline or terminal escapes: JSON keeps them, the table and Markdown show them escaped on one line', async (t) => {
    if (!ready) return t.skip('no engine');
    const analysis = await analyzeJson(namesArchive);
    const paths = analysis.largest.files.map((f) => f.path);
    assert.deepEqual(paths.slice(0, 2), [`/${HOSTILE.newlineName}`, `/${HOSTILE.terminalEscapeName}`]);
    for (const format of ['table', 'markdown']) {
      const output = await slimRun(['analyze', namesArchive, '--top', '4', '--format', format]);
      assert.equal(output.code, 0, output.stderr);
      assert.ok(output.stdout.includes('hostile/new\\x0aline.txt'), `${format}: the newline shows as \\x0a`);
      assert.ok(output.stdout.includes('hostile/\\x1b]0;owned\\x07\\x1b[2Jescape.txt'), `${format}: the escape sequences show as text`);
      assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(output.stdout), `${format}: no control character reaches the terminal`);
      assert.ok(!output.stdout.includes('new\nline'), `${format}: no row is broken by the newline`);
    }
  });

  test('names that are not UTF-8 (raw bytes and a pax path): shown with \\xNN escapes, JSON stays valid', async (t) => {
    if (!ready) return t.skip('no engine');
    const analysis = await analyzeJson(namesArchive);
    const paths = analysis.largest.files.map((f) => f.path);
    assert.ok(paths.includes(`/${HOSTILE.invalidUtf8Shown}`), JSON.stringify(paths));
    assert.ok(paths.includes('/hostile-names/pax-\\xc3(.txt'), JSON.stringify(paths));
    assert.ok(!paths.some((p) => p.includes('\ufffd')), 'no replacement characters: different names stay different');
  });

  for (const format of ['gnu', 'pax'] as const) {
    test(`a sparse 4 GiB file (GNU tar --sparse, ${format} format): its apparent size, without reading the holes`, async (t) => {
      if (!ready) return t.skip('no engine');
      const archive = await layerArchive(crafted, `sparse-${format}`, await sparseLayer(crafted, format));
      const analysis = await analyzeJson(archive);
      assert.deepEqual(analysis.largest.files[0], { path: '/big.img', bytes: SPARSE_SIZE, layer: 1 });
      assert.ok(analysis.visibleBytes >= SPARSE_SIZE);
      assert.ok(analysis.layers[1]!.tarBytes < 64 * 1024, `read ${analysis.layers[1]!.tarBytes} bytes of tar`);
    });
  }

  test('bench --warm-rounds 0, --warm-rounds or --node stargz with --fleet: exit 2, before any registry or engine starts', async (t) => {
    if (!ready) return t.skip('no engine');
    const zero = await slimRun(['bench', NODE_EXPRESS, '--record', RECORDING, '--warm-rounds', '0']);
    // commander words argument errors itself
    assert.equal(zero.code, 2, zero.stderr);
    assert.match(zero.stderr, /^error: option '--warm-rounds <n>' argument '0' is invalid\. must be a positive whole number$/m);
    const fleet = await slimRun(['bench', '--fleet', join(REPO, 'fixtures/fleet/node.json'), '--warm-rounds', '3']);
    assertOneLineError(fleet, 2, /--warm-rounds applies to ORIGINAL \[SLIM\]/);
    const lazy = await slimRun(['bench', '--fleet', join(REPO, 'fixtures/fleet/node.json'), '--node', 'stargz']);
    assertOneLineError(lazy, 2, /--node stargz lazy-pulls eStargz images, and slim fleet build does not write them/);
    await assertNothingLeft();
  });

  // ---- where slim writes ----

  test('a --tag the engine would refuse: exit 2 before any work (not an engine error after the build)', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['build', NODE_EXPRESS, '--record', RECORDING, '--tag', 'slim-test/Big Layer:v1']);
    assertOneLineError(result, 2, /--tag "slim-test\/Big Layer:v1" is not a valid image name/);
    await assertNothingLeft();
  });

  test('an output in a directory that does not exist: exit 2, before any work, no partial file', async (t) => {
    if (!ready) return t.skip('no engine');
    const result = await slimRun(['build', NODE_EXPRESS, '--record', RECORDING, '--output', 'docker-archive:/nonexistent-dir/x.tar']);
    assertOneLineError(result, 2, /--output docker-archive:\/nonexistent-dir\/x\.tar: \/nonexistent-dir is not a writable directory/);
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('an output on a read-only file system: exit 2 for an archive and an OCI layout, no partial file', async (t) => {
    if (!ready) return t.skip('no engine');
    if (!isRoot()) return t.skip('mounting a read-only tmpfs needs root');
    await withTmpfs(join(work.path, 'read-only'), 'ro,size=1m', async (dir) => {
      const archive = await slimRun(['build', NODE_EXPRESS, '--record', RECORDING, '--output', `docker-archive:${dir}/x.tar`]);
      assertOneLineError(archive, 2, new RegExp(`--output docker-archive:${dir}/x\\.tar: ${dir} is not a writable directory`));
      const oci = await slimRun(['build', NODE_EXPRESS, '--record', RECORDING, '--output', `oci:${dir}/layout/x`]);
      assertOneLineError(oci, 2, new RegExp(`--output oci:${dir}/layout/x: ${dir} is not a writable directory`));
      assert.deepEqual(await readdir(dir), []);
    });
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('disk full while spooling the image (SLIM_TMPDIR on a 2 MB tmpfs): exit 1, temp files gone', async (t) => {
    if (!ready) return t.skip('no engine');
    if (!isRoot()) return t.skip('mounting a tmpfs needs root');
    await withTmpfs(join(work.path, 'small-tmp'), 'size=2m', async (dir) => {
      const result = await slim(['analyze', NODE_EXPRESS], { SLIM_TMPDIR: dir, SLIM_DEBUG: '' });
      assertOneLineError(result, 1, new RegExp(`cannot write the image \\(docker save ${NODE_EXPRESS}\\) to ${dir}/slim-save-\\S+: no space left on the device \\(ENOSPC\\)`));
      assert.match(result.stderr.split('\n')[1] ?? '', /SLIM_TMPDIR/, 'the hint says where to get space');
      assert.deepEqual(await readdir(dir), [], 'the partial spool is removed');
    });
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  test('disk full while writing an --output (an 8 MB tmpfs): exit 1, no partial file, no untagged image left', async (t) => {
    if (!ready) return t.skip('no engine');
    if (!isRoot()) return t.skip('mounting a tmpfs needs root');
    const slimImages = ['images', '-q', '--no-trunc', '--filter', 'dangling=true', '--filter', `label=io.slim.source-image=${originalId}`];
    const { stdout: before } = await run('docker', slimImages);
    await withTmpfs(join(work.path, 'small-out'), 'size=8m', async (dir) => {
      const result = await slimRun(['build', NODE_EXPRESS, '--record', RECORDING, '--no-verify', '--output', `docker-archive:${dir}/slim.tar`]);
      assertOneLineError(result, 1, new RegExp(`cannot write docker-archive:${dir}/slim\\.tar: no space left on the device \\(ENOSPC\\)`));
      assert.deepEqual(await readdir(dir), [], 'the partial archive is removed');
    });
    const { stdout: afterwards } = await run('docker', slimImages);
    const left = afterwards.split('\n').filter((id) => id && !before.includes(id));
    assert.deepEqual(left, [], 'with outputs only and no --tag, the engine keeps no slim image');
    await assertNothingLeft();
    assert.equal(await imageId(NODE_EXPRESS), originalId);
  });

  // ---- a hostile but legal layer, end to end ----

  test('a hostile but legal layer on node-express: build succeeds, verifies, and writes no device node or FIFO', async (t) => {
    if (!ready) return t.skip('no engine');
    const hostileId = await loadDerivedImage(crafted, NODE_EXPRESS, hostileLayer(), HOSTILE_TAG);
    assert.equal(await imageId(HOSTILE_TAG), hostileId);
    const archive = join(work.path, 'hostile-slim.tar');
    const profile = join(work.path, 'hostile-profile.json');
    const result = await slimRun([
      'build', HOSTILE_TAG, '--record', RECORDING, '--tag', HOSTILE_SLIM_TAG, '--json',
      '--include', '/hostile/**', '--output', `docker-archive:${archive}`, '--profile-out', profile,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assertNoStackTrace(result.stderr);
    const report = JSON.parse(result.stdout) as BuildReport;
    assert.deepEqual(report.verification, { verified: true, ok: true, requests: 7, differing: 0, report: 'all 7 requests match\n', original: 'traced run' });
    for (const skipped of ['/hostile/fifo (fifo)', '/hostile/null (char-device)', '/hostile/sda (block-device)']) {
      assert.ok(report.warnings.includes(`not written: ${skipped}`), JSON.stringify(report.warnings));
    }
    await assertNothingLeft();
    assert.equal(await imageId(HOSTILE_TAG), hostileId, 'the original is unchanged');
    assert.equal(await imageId(NODE_EXPRESS), originalId);
    assert.equal(await imageId(HOSTILE_SLIM_TAG), report.slim.id);

    // every entry of every slim layer, as `tar -tv` lists them
    const unpacked = join(work.path, 'hostile-slim');
    await mkdir(unpacked);
    await run('tar', ['-xf', archive, '-C', unpacked]);
    const manifest = JSON.parse(await readFile(join(unpacked, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
    const listing: string[] = [];
    for (const layer of manifest[0]!.Layers) {
      const { stdout } = await run('tar', ['--numeric-owner', '-tvf', join(unpacked, layer)], { maxBuffer: 64 << 20 });
      listing.push(...stdout.split('\n').filter(Boolean));
    }
    const entry = (path: string) => listing.find((line) => line.endsWith(` ${path}`) || line.includes(` ${path} -> `));
    assert.deepEqual(listing.filter((line) => /^[cbp]/.test(line)), [], 'no device node or FIFO in the slim image');
    assert.match(entry('hostile/setuid-tool') ?? '', /^-rwsr-xr-x /, 'the setuid file keeps its mode');
    assert.match(entry('hostile/setgid-tool') ?? '', /^-rwxr-sr-x 0\/50 /, 'the setgid file keeps its mode and group');
    assert.match(entry('hostile/loop-a') ?? '', /hostile\/loop-a -> loop-b$/, 'the loop is kept as the symlinks it is');
    assert.match(entry('hostile/escape') ?? '', /-> \.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname$/);
    // resolution clamps at the image root: the escaping links lead to the image's own /etc/hostname, kept for them
    assert.ok(entry('etc/hostname'), 'the target of the escaping symlinks, inside the image, is kept');
    const kept = JSON.parse(await readFile(profile, 'utf8')) as { kept: Array<{ path: string; reasons: string[] }> };
    assert.ok(kept.kept.some((k) => k.path === '/etc/hostname'), 'the profile keeps /etc/hostname');
    assert.ok(!kept.kept.some((k) => !k.path.startsWith('/')), 'every kept path is inside the image');
  });
});
