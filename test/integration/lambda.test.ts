import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BenchReport } from '../../src/bench/bench-report.js';
import type { BuildReport } from '../../src/build/report.js';
import { loadRecording } from '../../src/recording/parse.js';
import { CLI, engineOrSkip, REPO, requireFixture, run, slim, tempDir } from './support.js';

const BOOTSTRAP = 'slim-fixture/lambda-bootstrap:v1';
const BOOTSTRAP_RECORDING = join(REPO, 'fixtures/lambda-bootstrap/recording.json');
const SLIM_TAG = 'slim-test/lambda-bootstrap:v1-slim';

async function noTemporaryContainers(): Promise<void> {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=slim.temporary']);
  assert.equal(stdout.trim(), '', 'no temporary container is left');
}

describe('AWS Lambda through slim\'s Runtime API', () => {
  let work: { path: string; remove(): Promise<void> };
  let ready = false;

  before(async (t) => {
    ready = await engineOrSkip(t as unknown as { skip(m: string): void });
    if (!ready) return;
    await requireFixture(BOOTSTRAP);
    work = await tempDir('lambda');
  });
  after(async () => {
    await run('docker', ['rmi', SLIM_TAG]).catch(() => undefined);
    await work?.remove();
  });

  /** A recording for the bootstrap image whose ENTRYPOINT is replaced by a misbehaving runtime in bash. */
  async function misbehaving(name: string, script: string, extra: Record<string, unknown> = {}): Promise<string> {
    const file = join(work.path, `${name}.json`);
    const recording = {
      platform: 'lambda',
      lambda: { timeoutS: 3 },
      readiness: { timeoutMs: 15000 },
      entrypoint: ['/bin/bash', '-c', script],
      steps: [{ invoke: { json: { items: [{ sku: 'a', qty: 1, price: 1 }] } } }],
      ...extra,
    };
    await writeFile(file, JSON.stringify(recording));
    return file;
  }

  const API = 'http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime';

  test('the custom-runtime fixture is traced, slimmed, verified and benched', async (t) => {
    if (!ready) return t.skip('no engine');
    const built = await slim(['build', BOOTSTRAP, '--record', BOOTSTRAP_RECORDING, '--tag', SLIM_TAG, '--json']);
    assert.equal(built.code, 0, built.stderr);
    const report = JSON.parse(built.stdout) as BuildReport;
    assert.deepEqual([report.verification.ok, report.verification.requests, report.verification.differing], [true, 4, 0]);
    assert.ok(report.slim.fileBytes <= 1.1 * report.tracedFloorBytes, `${report.slim.fileBytes} <= 1.1 × ${report.tracedFloorBytes}`);

    const benched = await slim(['bench', BOOTSTRAP, SLIM_TAG, '--record', BOOTSTRAP_RECORDING, '--rounds', '1', '--warm-rounds', '1', '--json']);
    assert.equal(benched.code, 0, benched.stderr);
    const bench = JSON.parse(benched.stdout) as BenchReport;
    for (const role of ['original', 'slim'] as const) {
      const image = bench.images[role]!;
      assert.ok(image.firstRequestCold.median > 0 && image.firstRequestWarm.median > 0, `${role} first event timed`);
    }
    assert.ok(bench.images.slim!.compressedBytes < bench.images.original!.compressedBytes / 2);
    await noTemporaryContainers();
  });

  test('verify finds a payload that differs (v2 changes the version it reports) and compares the function errors', async (t) => {
    if (!ready) return t.skip('no engine');
    await requireFixture('slim-fixture/lambda-bootstrap:v2');
    const result = await slim(['verify', BOOTSTRAP, 'slim-fixture/lambda-bootstrap:v2', '--record', BOOTSTRAP_RECORDING, '--json']);
    assert.equal(result.code, 1, result.stderr);
    const verdict = JSON.parse(result.stdout) as { ok: boolean; requests: Array<{ name: string; differences: Array<{ kind: string; original?: string; slim?: string }> }> };
    assert.equal(verdict.ok, false);
    const differing = verdict.requests.filter((r) => r.differences.length > 0);
    assert.deepEqual(differing.map((r) => r.name), ['invoke #1', 'invoke #3'], 'the two orders differ; the two function errors are the same');
    assert.match(differing[0]!.differences[0]!.original ?? '', /"version":"1\.0\.0"/);
    await noTemporaryContainers();
  });

  const faults = [
    {
      name: 'a function that never polls',
      script: 'echo "listening on nothing"; sleep 60',
      extra: { readiness: { timeoutMs: 3000 } },
      error: /not ready after 3000 ms: it never polled the Runtime API[\s\S]*last 50 log lines[\s\S]*listening on nothing/,
    },
    {
      name: 'a function that reports an init error',
      script: `curl -sS -o /dev/null -d '{"errorType":"Runtime.BadConfig","errorMessage":"TABLE_NAME is not set"}' ${API}/init/error; sleep 60`,
      error: /init error to the Runtime API: Runtime\.BadConfig: TABLE_NAME is not set/,
    },
    {
      name: 'a function that crashes during an event',
      script: `curl -sS ${API}/invocation/next; echo "segfault, say"; exit 3`,
      error: /the function exited with code 3 during "invoke #1"[\s\S]*segfault, say/,
    },
    {
      name: 'a function that posts for a request id it was never sent',
      script: `curl -sS -o /dev/null ${API}/invocation/next; curl -sS -d '{}' ${API}/invocation/not-a-real-id/response; sleep 60`,
      error: /posted a response for request not-a-real-id, which slim never sent/,
    },
    {
      name: 'a function that never answers',
      script: `curl -sS -o /dev/null ${API}/invocation/next; sleep 60`,
      error: /did not post a result for request [0-9a-f-]+ within its deadline of 3000 ms/,
    },
  ];
  for (const fault of faults) {
    test(`${fault.name} fails with a clear error and its logs, and leaves nothing behind`, async (t) => {
      if (!ready) return t.skip('no engine');
      const file = await misbehaving(fault.name.replaceAll(' ', '-'), fault.script, fault.extra);
      const started = Date.now();
      const result = await slim(['build', BOOTSTRAP, '--record', file, '--tag', 'slim-test/lambda-fault:never']);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, fault.error);
      assert.ok(Date.now() - started < 45_000, 'no hang');
      await noTemporaryContainers();
    });
  }

  test('slim record --platform lambda takes events at the emulator\'s invoke path and writes invoke steps', async (t) => {
    if (!ready) return t.skip('no engine');
    const output = join(work.path, 'recorded-lambda.json');
    const child = spawn(process.execPath, [CLI, 'record', BOOTSTRAP, '--platform', 'lambda', '-o', output], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`slim record never became ready: ${stderr}`)), 60_000);
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /send events with POST (http:\/\/127\.0\.0\.1:\d+\/2015-03-31\/functions\/function\/invocations)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.on('exit', (code) => reject(new Error(`slim record exited with ${code}: ${stderr}`)));
    });
    const invoke = async (event: string) => (await run('curl', ['-s', '-i', '-d', event, address])).stdout;
    const ok = await invoke('{"items":[{"sku":"apple","qty":3,"price":0.5}]}');
    assert.match(ok, /^HTTP\/1\.1 200/);
    assert.match(ok, /"total":1\.5/);
    const failed = await invoke('{"items":[]}');
    assert.match(failed, /x-amz-function-error: Unhandled/i);
    assert.match(failed, /items must be a non-empty array/);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /wrote 2 events to /);

    const recording = await loadRecording(output);
    assert.equal(recording.platform, 'lambda');
    assert.deepEqual(
      recording.requests.map((r) => [r.name, r.body.toString()]),
      [
        ['invoke #1', '{"items":[{"sku":"apple","qty":3,"price":0.5}]}'],
        ['invoke #2', '{"items":[]}'],
      ],
    );
    const verified = await slim(['verify', BOOTSTRAP, BOOTSTRAP, '--record', output]);
    assert.equal(verified.code, 0, verified.stderr);
    await noTemporaryContainers();
  });
});
