import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openEndpoint, type FunctionEndpoint } from '../../src/platform/endpoint.js';
import { LambdaInvocationError, LambdaRuntimeApi, type LambdaSettings } from '../../src/platform/lambda-runtime-api.js';
import { parseRecording } from '../../src/recording/parse.js';
import type { Recording } from '../../src/recording/types.js';

const SETTINGS: LambdaSettings = { functionName: 'orders', memoryMB: 256, timeoutS: 3, region: 'eu-west-1', accountId: '111122223333' };
const open: LambdaRuntimeApi[] = [];
after(async () => {
  for (const api of open) await api.close();
});

async function startApi(): Promise<LambdaRuntimeApi> {
  const api = await LambdaRuntimeApi.start(SETTINGS);
  open.push(api);
  return api;
}

/** A scripted runtime: the calls a Lambda runtime client makes, one at a time. */
class ScriptedRuntime {
  constructor(private readonly api: LambdaRuntimeApi) {}

  private url(path: string): string {
    return `http://${this.api.address}/2018-06-01/runtime${path}`;
  }

  async next(): Promise<{ requestId: string; deadline: number; arn: string; traceId: string; event: string }> {
    const res = await fetch(this.url('/invocation/next'));
    assert.equal(res.status, 200);
    return {
      requestId: res.headers.get('lambda-runtime-aws-request-id')!,
      deadline: Number(res.headers.get('lambda-runtime-deadline-ms')),
      arn: res.headers.get('lambda-runtime-invoked-function-arn')!,
      traceId: res.headers.get('lambda-runtime-trace-id')!,
      event: await res.text(),
    };
  }

  async post(path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: { errorType?: string; status?: string } }> {
    const res = await fetch(this.url(path), { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    return { status: res.status, body: (await res.json()) as { errorType?: string; status?: string } };
  }
}

const rejectsWith = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof LambdaInvocationError, `expected a LambdaInvocationError, got ${String(err)}`);
  assert.match(err.message, pattern);
  return true;
};

describe('LambdaRuntimeApi', () => {
  test('a poll receives the event with Lambda\'s headers, and the posted response settles the invocation', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    assert.equal(api.polled, false);
    const polled = runtime.next();
    const before = Date.now();
    const result = api.invoke(Buffer.from('{"orderId":7}'), 'req-1', 3000);
    const delivered = await polled;
    assert.equal(api.polled, true);
    assert.equal(delivered.event, '{"orderId":7}');
    assert.equal(delivered.requestId, 'req-1');
    assert.equal(delivered.arn, 'arn:aws:lambda:eu-west-1:111122223333:function:orders');
    assert.match(delivered.traceId, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
    assert.ok(delivered.deadline >= before + 3000 && delivered.deadline <= Date.now() + 3000, `deadline ${delivered.deadline}`);
    assert.deepEqual(await runtime.post('/invocation/req-1/response', '{"total":42}'), { status: 202, body: { status: 'OK' } });
    const settled = await result;
    assert.equal(settled.kind, 'response');
    assert.equal(settled.payload.toString(), '{"total":42}');
  });

  test('an event queued before the first poll waits for it; a second event waits for the next poll', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const first = api.invoke(Buffer.from('"a"'), 'req-a', 3000);
    const second = api.invoke(Buffer.from('"b"'), 'req-b', 3000);
    const a = await runtime.next();
    assert.equal(a.event, '"a"');
    await runtime.post('/invocation/req-a/response', '"A"');
    const b = await runtime.next();
    assert.equal(b.event, '"b"');
    await runtime.post('/invocation/req-b/response', '"B"');
    assert.deepEqual([(await first).payload.toString(), (await second).payload.toString()], ['"A"', '"B"']);
  });

  test('a function error settles the invocation as an error with its type and error object', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const result = api.invoke(Buffer.from('{}'), 'req-e', 3000);
    await runtime.next();
    const error = '{"errorType":"TypeError","errorMessage":"x is undefined"}';
    assert.equal((await runtime.post('/invocation/req-e/error', error, { 'lambda-runtime-function-error-type': 'Runtime.UserError' })).status, 202);
    const settled = await result;
    assert.deepEqual({ kind: settled.kind, type: settled.kind === 'error' && settled.errorType, payload: settled.payload.toString() }, { kind: 'error', type: 'Runtime.UserError', payload: error });
  });

  test('no result within the deadline fails the invocation, counting from delivery', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const result = api.invoke(Buffer.from('{}'), 'req-slow', 150, 5000);
    await new Promise((r) => setTimeout(r, 300)); // not yet delivered: the deadline has not started
    await runtime.next();
    const started = Date.now();
    await assert.rejects(result, rejectsWith(/did not post a result for request req-slow within its deadline of 150 ms/));
    assert.ok(Date.now() - started >= 100);
  });

  test('an init error fails the queued event and every later one', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const queued = assert.rejects(api.invoke(Buffer.from('{}'), 'req-1', 3000), rejectsWith(/init error to the Runtime API: Runtime\.ImportModuleError: Cannot find module 'app'/));
    const init = '{"errorType":"Runtime.ImportModuleError","errorMessage":"Cannot find module \'app\'"}';
    assert.equal((await runtime.post('/init/error', init)).status, 202);
    await queued;
    await assert.rejects(api.invoke(Buffer.from('{}'), 'req-2', 3000), rejectsWith(/init error/));
    assert.equal(api.reportedInitError, "Runtime.ImportModuleError: Cannot find module 'app'");
  });

  test('a result for a request id slim never sent is refused and fails the event in flight', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const result = assert.rejects(
      api.invoke(Buffer.from('{}'), 'req-real', 3000),
      rejectsWith(/posted a response for request req-made-up, which slim never sent; the event in flight is req-real/),
    );
    await runtime.next();
    const refused = await runtime.post('/invocation/req-made-up/response', '{}');
    assert.deepEqual([refused.status, refused.body.errorType], [400, 'InvalidRequestID']);
    await result;
  });

  test('a second result for one request is refused, and fails the next event', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const first = api.invoke(Buffer.from('{}'), 'req-1', 3000);
    await runtime.next();
    await runtime.post('/invocation/req-1/response', '"once"');
    assert.equal((await first).payload.toString(), '"once"');
    const twice = await runtime.post('/invocation/req-1/error', '{}');
    assert.deepEqual([twice.status, twice.body.errorType], [400, 'InvalidStateTransition']);
    await assert.rejects(api.invoke(Buffer.from('{}'), 'req-2', 3000), rejectsWith(/posted a second error for request req-1, which already had a result/));
  });

  test('asking for the next event before posting a result fails the event in flight', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const result = api.invoke(Buffer.from('{}'), 'req-1', 3000);
    await runtime.next();
    void fetch(`http://${api.address}/2018-06-01/runtime/invocation/next`).catch(() => undefined);
    await assert.rejects(result, rejectsWith(/asked for the next event before it posted a result for request req-1/));
  });

  test('a late result for an event that timed out is answered 410 and blames no later event', async () => {
    const api = await startApi();
    const runtime = new ScriptedRuntime(api);
    const slow = assert.rejects(api.invoke(Buffer.from('{}'), 'req-slow', 100), rejectsWith(/within its deadline of 100 ms/));
    await runtime.next();
    await slow;
    const late = await runtime.post('/invocation/req-slow/response', '"late"');
    assert.equal(late.status, 410);
    const next = api.invoke(Buffer.from('"b"'), 'req-b', 3000);
    await runtime.next();
    await runtime.post('/invocation/req-b/response', '"B"');
    assert.equal((await next).payload.toString(), '"B"');
  });

  test('an event nobody asks for fails after its delivery time, and says whether the function ever polled', async () => {
    const api = await startApi();
    await assert.rejects(api.invoke(Buffer.from('{}'), 'req-1', 3000, 100), rejectsWith(/never polled the Runtime API within 100 ms, so request req-1 was never delivered/));
    const runtime = new ScriptedRuntime(api);
    const first = api.invoke(Buffer.from('{}'), 'req-2', 3000);
    await runtime.next();
    await runtime.post('/invocation/req-2/response', '{}');
    await first;
    await assert.rejects(api.invoke(Buffer.from('{}'), 'req-3', 3000, 100), rejectsWith(/did not ask for the next event within 100 ms/));
  });

  test('a misuse while an event is queued but not yet delivered fails that event', async () => {
    const api = await startApi();
    const queued = assert.rejects(api.invoke(Buffer.from('{}'), 'req-q', 3000), rejectsWith(/posted a response for request ghost, which slim never sent/));
    const refused = await new ScriptedRuntime(api).post('/invocation/ghost/response', '{}');
    assert.equal(refused.status, 400);
    await queued;
  });

  test('a malformed request id is refused with 400 and does not bring the server down', async () => {
    const api = await startApi();
    const res = await fetch(`http://${api.address}/2018-06-01/runtime/invocation/%E0%A4/response`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 400);
    const runtime = new ScriptedRuntime(api);
    const result = api.invoke(Buffer.from('"ok"'), 'req-1', 3000);
    await runtime.next();
    await runtime.post('/invocation/req-1/response', '"fine"');
    assert.equal((await result).payload.toString(), '"fine"');
  });

  test('other paths answer 404, and closing fails what is still queued', async () => {
    const api = await LambdaRuntimeApi.start(SETTINGS);
    const res = await fetch(`http://${api.address}/2018-06-01/runtime/invocation/req/unknown`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 404);
    const queued = api.invoke(Buffer.from('{}'), 'req-1', 3000);
    await api.close();
    await assert.rejects(queued, /the Runtime API was closed/);
  });
});

describe('the Lambda endpoint', () => {
  const recording = () =>
    parseRecording({ platform: 'lambda', lambda: { functionName: 'orders', timeoutS: 2 }, steps: [{ invoke: { json: { orderId: 7 } } }] }, '/tmp/recording.json');
  const alive = { port: 0, exited: async () => undefined };

  /** Runs `body` with the endpoint of the test recording and its Runtime API address, closing it after. */
  async function withEndpoint(body: (endpoint: FunctionEndpoint, r: Recording, api: string) => Promise<void>): Promise<void> {
    const r = await recording();
    const endpoint = await openEndpoint(r);
    try {
      await body(endpoint, r, endpoint.environment([]).AWS_LAMBDA_RUNTIME_API!);
    } finally {
      await endpoint.close();
    }
  }

  test('passes Lambda\'s environment, with the image\'s CMD as the handler', () =>
    withEndpoint(async (endpoint) => {
      const env = endpoint.environment(['app.handler']);
      assert.match(env.AWS_LAMBDA_RUNTIME_API!, /^127\.0\.0\.1:\d+$/);
      assert.equal(env._HANDLER, 'app.handler');
      assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, 'orders');
      assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '512');
      assert.equal(env.AWS_REGION, 'us-east-1');
      assert.equal(endpoint.needsHostNetwork, true, 'the function calls back to 127.0.0.1');
    }));

  test('a step becomes an event, and the result an HTTP-shaped answer verify can compare; an error carries x-amz-function-error', () =>
    withEndpoint(async (endpoint, r, api) => {
      const answered = endpoint.send(r.requests[0]!, alive);
      const next = await fetch(`http://${api}/2018-06-01/runtime/invocation/next`);
      assert.equal(await next.text(), '{"orderId":7}');
      const id = next.headers.get('lambda-runtime-aws-request-id')!;
      assert.equal(id, r.requests[0]!.headers['lambda-runtime-aws-request-id'], 'the request id is the recording\'s stable one');
      await fetch(`http://${api}/2018-06-01/runtime/invocation/${id}/error`, { method: 'POST', body: '{"errorType":"Error","errorMessage":"no stock"}' });
      const response = await answered;
      assert.equal(response.status, 200);
      assert.equal(response.headers['x-amz-function-error'], 'Unhandled');
      assert.equal(response.body.toString(), '{"errorType":"Error","errorMessage":"no stock"}');
      assert.ok(r.requests[0]!.compare.headers.includes('x-amz-function-error'), 'verify compares it');
    }));

  test('a process that exits while its event is pending fails the step at once, not at the deadline', () =>
    withEndpoint(async (endpoint, r, api) => {
      let exited: { code: number } | undefined;
      const started = Date.now();
      const answered = endpoint.send(r.requests[0]!, { port: 0, exited: async () => exited });
      await fetch(`http://${api}/2018-06-01/runtime/invocation/next`);
      exited = { code: 139 };
      await assert.rejects(answered, rejectsWith(/the function exited with code 139 during "invoke #1"/));
      assert.ok(Date.now() - started < 1500, 'before the 2 s deadline');
    }));

  test('bench\'s first answer is a result, not a function error', () =>
    withEndpoint(async (endpoint, r, api) => {
      const answered = assert.rejects(endpoint.firstAnswer(r.requests[0]!, alive, Date.now() + 5000), /answered "invoke #1" with a function error: Error: cold/);
      const next = await fetch(`http://${api}/2018-06-01/runtime/invocation/next`);
      const id = next.headers.get('lambda-runtime-aws-request-id')!;
      await fetch(`http://${api}/2018-06-01/runtime/invocation/${id}/error`, { method: 'POST', body: '{"errorType":"Error","errorMessage":"cold"}' });
      await answered;
    }));

  test('a process that never polls fails the first answer at the deadline given', () =>
    withEndpoint(async (endpoint, r) => {
      await assert.rejects(endpoint.firstAnswer(r.requests[0]!, alive, Date.now() + 200), rejectsWith(/never polled the Runtime API within \d+ ms/));
    }));
});
