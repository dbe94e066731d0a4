import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { runAllCleanups } from '../../src/cleanup.js';
import { FunctionContainer } from '../../src/docker/function-container.js';
import { loadRecording } from '../../src/recording/parse.js';
import { replay } from '../../src/recording/replay.js';
import { CLI, engineOrSkip, imageIdentity, NODE_EXPRESS, requireFixture, run, startRecording, tempDir } from './support.js';

async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  return { body: stdout.slice(0, cut), status: Number(stdout.slice(cut + 1)) };
}

describe('slim record', () => {
  let work: { path: string; remove(): Promise<void> };
  let ready = false;
  let identity = '';

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    await requireFixture(NODE_EXPRESS);
    identity = await imageIdentity(NODE_EXPRESS);
    work = await tempDir('record');
  });
  afterEach(async () => {
    if (ready) assert.equal(await imageIdentity(NODE_EXPRESS), identity, 'the original image is unchanged');
  });
  after(async () => {
    await runAllCleanups();
    await work?.remove();
  });

  test('captures a curl session into a recording that replays identically', async (t) => {
    if (!ready) return t.skip('no engine');
    const output = join(work.path, 'recorded.json');
    const { child, address, exited, stderr } = await startRecording(['record', NODE_EXPRESS, '-o', output]);
    const seen = [
      await curl([`${address}/health`]),
      await curl(['-X', 'POST', '-H', 'content-type: application/json', '-d', '{"orders":[{"sku":"a","qty":2,"price":1.5},{"sku":"b","qty":1,"price":4}]}', `${address}/invoke`]),
      await curl(['-X', 'POST', '-H', 'content-type: application/json', '-d', '{"orders":[]}', `${address}/invoke`]),
      await curl([`${address}/missing`]),
    ];
    assert.deepEqual(seen.map((s) => s.status), [200, 200, 400, 404]);
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr());
    assert.match(stderr(), /wrote 4 requests to /);

    const recording = await loadRecording(output);
    assert.deepEqual(recording.requests.map((r) => `${r.method} ${r.path} ${r.expectStatus}`), [
      'GET /health 200',
      'POST /invoke 200',
      'POST /invoke 400',
      'GET /missing 404',
    ]);
    assert.equal(recording.readiness.kind === 'http' && recording.readiness.path, '/health');

    const container = await FunctionContainer.start({ image: NODE_EXPRESS, recording, purpose: 'test-replay' });
    try {
      await container.waitReady();
      const replayed = await replay(recording, (r) => container.send(r));
      assert.deepEqual(
        replayed.map((r) => ({ status: r.response.status, body: r.response.body.toString() })),
        seen,
      );
    } finally {
      await container.remove();
    }
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary']);
    assert.equal(stdout.trim(), '');
  });

  test('a recording with no request is an error, and the container is removed', async (t) => {
    if (!ready) return t.skip('no engine');
    const output = join(work.path, 'empty.json');
    const result = await run(process.execPath, [CLI, 'record', NODE_EXPRESS, '-o', output, '--duration', '1']).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no request reached the proxy/);
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary']);
    assert.equal(stdout.trim(), '');
  });
});
