import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SlimError } from '../../src/errors.js';
import { bodyField, recordingFromExchanges, type Exchange } from '../../src/recording/capture.js';
import { HttpTimeoutError, httpTo, sendHttp } from '../../src/recording/http-client.js';
import { loadRecording, parseRecording, stableRequestId } from '../../src/recording/parse.js';
import { RecordingProxy } from '../../src/recording/proxy.js';
import { replay, ReplayError } from '../../src/recording/replay.js';
import type { Recording } from '../../src/recording/types.js';
import { tempDir } from '../helpers/images.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/;

let tmp: { path: string; remove(): Promise<void> };
let recordingFile: string;

before(async () => {
  tmp = await tempDir();
  recordingFile = join(tmp.path, 'recording.json');
  await writeFile(join(tmp.path, 'payload.bin'), Buffer.from([0, 1, 2, 0xff]));
});
after(async () => {
  await tmp.remove();
});

/** Asserts that parsing `value` fails with an input error naming `field` (the message is `FILE: FIELD problem`). */
async function rejectsNaming(value: unknown, field: string, problem?: RegExp): Promise<void> {
  await assert.rejects(parseRecording(value, recordingFile), (err: unknown) => {
    assert.ok(err instanceof SlimError, `expected a SlimError, got ${String(err)}`);
    assert.equal(err.exitCode, 3);
    assert.ok(err.message.startsWith(`${recordingFile}: ${field} `), `message should name ${field}: ${err.message}`);
    if (problem) assert.match(err.message, problem);
    return true;
  });
}

const ok = { request: { method: 'GET', path: '/' } };

describe('stableRequestId', () => {
  test('is a UUID-shaped id that depends only on its seed', () => {
    const a = stableRequestId('0:invoke:');
    assert.match(a, UUID);
    assert.equal(stableRequestId('0:invoke:'), a);
    assert.notEqual(stableRequestId('1:invoke:'), a);
  });
});

describe('parseRecording', () => {
  test('initialize and invoke shorthands become POST /initialize and /invoke with x-fc-* headers', async () => {
    const rec = await parseRecording(
      {
        fc: { functionName: 'orders', handler: 'app.handler', memoryMB: 1024, timeoutS: 30 },
        steps: [{ initialize: {} }, { invoke: { json: { a: 1 } } }, { invoke: { text: 'hi' } }, { request: { method: 'get', path: '/health' } }],
      },
      recordingFile,
    );
    assert.deepEqual(
      rec.requests.map((r) => [r.name, r.method, r.path]),
      [
        ['initialize #1', 'POST', '/initialize'],
        ['invoke #1', 'POST', '/invoke'],
        ['invoke #2', 'POST', '/invoke'],
        ['GET /health', 'GET', '/health'],
      ],
    );
    const [init, invoke, textInvoke, plain] = rec.requests;
    assert.match(init!.headers['x-fc-request-id']!, UUID);
    assert.equal(init!.headers['x-fc-function-name'], 'orders');
    assert.equal(init!.headers['x-fc-function-handler'], 'app.handler');
    assert.equal(init!.headers['x-fc-function-memory'], '1024');
    assert.equal(init!.headers['x-fc-function-timeout'], '30');
    assert.equal(init!.headers['x-fc-function-initializer'], 'app.initializer');
    assert.equal(init!.headers['x-fc-initialization-timeout'], '30');
    assert.equal(init!.headers['x-fc-region'], 'cn-hangzhou');
    assert.equal(init!.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(init!.body, Buffer.alloc(0));
    assert.equal(invoke!.headers['x-fc-function-initializer'], undefined, 'only initialize names the initializer');
    assert.equal(invoke!.headers['content-type'], 'application/json');
    assert.equal(invoke!.body.toString(), '{"a":1}');
    assert.equal(textInvoke!.headers['content-type'], 'application/octet-stream');
    assert.equal(plain!.headers['x-fc-request-id'], undefined, 'a plain request gets no x-fc-* headers');
    assert.deepEqual(plain!.headers, {});
  });

  test('x-fc-request-id is the same on every parse and differs between steps, even with equal bodies', async () => {
    const value = { steps: [{ invoke: { text: 'same' } }, { invoke: { text: 'same' } }, { initialize: {} }] };
    const first = await parseRecording(value, recordingFile);
    const second = await parseRecording(structuredClone(value), recordingFile);
    const ids = first.requests.map((r) => r.headers['x-fc-request-id']);
    assert.deepEqual(
      second.requests.map((r) => r.headers['x-fc-request-id']),
      ids,
    );
    assert.equal(new Set(ids).size, 3);
  });

  test('bodies: json, text, base64, and file relative to the recording directory', async () => {
    const rec = await parseRecording(
      {
        steps: [
          { request: { method: 'POST', path: '/j', json: [1, 'two', { three: 3 }] } },
          { request: { method: 'POST', path: '/t', text: 'héllo' } },
          { request: { method: 'POST', path: '/b', base64: 'AAEC/w==' } },
          { request: { method: 'POST', path: '/f', file: 'payload.bin' } },
          { request: { method: 'POST', path: '/n' } },
        ],
      },
      recordingFile,
    );
    const [j, t, b, f, n] = rec.requests;
    assert.equal(j!.body.toString(), '[1,"two",{"three":3}]');
    assert.equal(j!.headers['content-type'], 'application/json');
    assert.deepEqual(t!.body, Buffer.from('héllo', 'utf8'));
    assert.equal(t!.headers['content-type'], undefined);
    assert.deepEqual(b!.body, Buffer.from([0, 1, 2, 0xff]));
    assert.deepEqual(f!.body, Buffer.from([0, 1, 2, 0xff]));
    assert.deepEqual(n!.body, Buffer.alloc(0));
  });

  test('given headers are lower-cased and override the defaults', async () => {
    const rec = await parseRecording(
      { steps: [{ invoke: { text: '{x', headers: { 'Content-Type': 'application/json', 'X-Trace': 'abc' } } }] },
      recordingFile,
    );
    assert.equal(rec.requests[0]!.headers['content-type'], 'application/json');
    assert.equal(rec.requests[0]!.headers['x-trace'], 'abc');
    assert.equal(rec.requests[0]!.headers['Content-Type'], undefined);
  });

  test('defaults: port 9000, PORT and FC_SERVER_PORT, GET / readiness, 30 s per request', async () => {
    const rec = await parseRecording({ steps: [ok] }, recordingFile);
    assert.equal(rec.version, 1);
    assert.equal(rec.port, 9000);
    assert.deepEqual(rec.portEnv, ['PORT', 'FC_SERVER_PORT']);
    assert.deepEqual(rec.readiness, { kind: 'http', method: 'GET', path: '/', timeoutMs: 60_000 });
    assert.deepEqual(rec.env, {});
    assert.equal(rec.entrypoint, undefined);
    assert.equal(rec.command, undefined);
    assert.equal(rec.requests[0]!.timeoutMs, 30_000);
    assert.equal(rec.requests[0]!.expectStatus, undefined);
    assert.equal(rec.rerunOriginal, false, "verification takes the original's answers from the traced run");
    assert.deepEqual(rec.requests[0]!.compare, {
      headers: ['content-type'],
      ignoreHeaders: ['date', 'x-fc-request-id', 'etag', 'connection', 'keep-alive'],
      body: 'bytes',
      ignoreJsonFields: [],
    });
  });

  test('explicit settings are kept: port, portEnv, env, entrypoint, command, readiness, timeouts', async () => {
    const rec = await parseRecording(
      {
        version: 1,
        port: 8080,
        portEnv: ['APP_PORT'],
        env: { MODE: 'test' },
        entrypoint: ['/bin/sh', '-c'],
        command: ['node server.js'],
        readiness: { http: '/ready', method: 'head', timeoutMs: 5000 },
        steps: [{ request: { method: 'DELETE', path: '/x', expectStatus: 204, timeoutMs: 1500 } }],
      },
      recordingFile,
    );
    assert.equal(rec.port, 8080);
    assert.deepEqual(rec.portEnv, ['APP_PORT']);
    assert.deepEqual(rec.env, { MODE: 'test' });
    assert.deepEqual(rec.entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(rec.command, ['node server.js']);
    assert.deepEqual(rec.readiness, { kind: 'http', method: 'HEAD', path: '/ready', timeoutMs: 5000 });
    assert.equal(rec.requests[0]!.expectStatus, 204);
    assert.equal(rec.requests[0]!.timeoutMs, 1500);
    const logReady = await parseRecording({ readiness: { log: 'listening on' }, steps: [ok] }, recordingFile);
    assert.deepEqual(logReady.readiness, { kind: 'log', pattern: 'listening on', timeoutMs: 60_000 });
  });

  test('compare rules: ignoreJsonFields implies a json body compare, step rules override the top level', async () => {
    const rec = await parseRecording(
      {
        compare: { ignoreJsonFields: ['id'] },
        steps: [
          ok,
          { request: { method: 'GET', path: '/a', compare: { headers: ['Content-Type', 'X-Version'] } } },
          { request: { method: 'GET', path: '/b', compare: { ignoreJsonFields: ['ts'], body: 'bytes' } } },
          { request: { method: 'GET', path: '/c', compare: { ignoreHeaders: ['Date'] } } },
        ],
      },
      recordingFile,
    );
    const [top, headers, explicitBytes, ignore] = rec.requests.map((r) => r.compare);
    assert.equal(top!.body, 'json');
    assert.deepEqual(top!.ignoreJsonFields, ['id']);
    assert.deepEqual(top!.headers, ['content-type']);
    assert.deepEqual(headers!.headers, ['content-type', 'x-version']);
    assert.equal(headers!.body, 'json', 'inherits the top-level json compare');
    assert.equal(explicitBytes!.body, 'bytes', 'an explicit body rule wins');
    assert.deepEqual(explicitBytes!.ignoreJsonFields, ['ts']);
    assert.deepEqual(ignore!.ignoreHeaders, ['date']);

    const stepOnly = await parseRecording({ steps: [ok, { request: { method: 'GET', path: '/', compare: { ignoreJsonFields: ['a.b'] } } }] }, recordingFile);
    assert.equal(stepOnly.requests[0]!.compare.body, 'bytes');
    assert.equal(stepOnly.requests[1]!.compare.body, 'json');
  });

  describe('validation errors name the field', () => {
    test('unknown top-level field', () => rejectsNaming({ steps: [ok], stepz: [] }, 'stepz', /not a known field/));
    test('rerunOriginal that is not a boolean', () => rejectsNaming({ steps: [ok], rerunOriginal: 'yes' }, 'rerunOriginal', /true or false/));
    test('unknown field inside a step', () => rejectsNaming({ steps: [{ invoke: { bogy: 'x' } }] }, 'steps[0].invoke.bogy', /not a known field/));
    test('steps missing', () => rejectsNaming({ port: 9000 }, 'steps', /array/));
    test('steps empty', () => rejectsNaming({ steps: [] }, 'steps', /at least one/));
    test('a step with two kinds', () =>
      rejectsNaming({ steps: [{ invoke: {}, request: { method: 'GET', path: '/' } }] }, 'steps[0]', /exactly one of/));
    test('a step with no kind', () => rejectsNaming({ steps: [ok, {}] }, 'steps[1]', /exactly one of/));
    test('an invalid method', () => rejectsNaming({ steps: [ok, { invoke: { method: 'FETCH' } }] }, 'steps[1].invoke.method', /must be one of/));
    test('a request without a method', () => rejectsNaming({ steps: [{ request: { path: '/' } }] }, 'steps[0].request.method', /required/));
    test('a path without a leading slash', () =>
      rejectsNaming({ steps: [{ request: { method: 'GET', path: 'health' } }] }, 'steps[0].request.path', /must start with \//));
    test('two bodies', () => rejectsNaming({ steps: [{ invoke: { text: 'a', json: {} } }] }, 'steps[0].invoke', /more than one body \(text, json\)/));
    test('an unreadable body file', () =>
      rejectsNaming({ steps: [{ invoke: { file: 'missing.bin' } }] }, 'steps[0].invoke.file', /names \/.*\/missing\.bin, which cannot be read/));
    test('bad base64', () => rejectsNaming({ steps: [{ invoke: { base64: 'not*base64!' } }] }, 'steps[0].invoke.base64', /not base64/));
    test('readiness with both http and log', () =>
      rejectsNaming({ readiness: { http: '/', log: 'ready' }, steps: [ok] }, 'readiness', /exactly one of/));
    test('readiness with neither http nor log', () => rejectsNaming({ readiness: { timeoutMs: 5 }, steps: [ok] }, 'readiness', /exactly one of/));
    test('port out of range', async () => {
      await rejectsNaming({ port: 70000, steps: [ok] }, 'port', /1 to 65535/);
      await rejectsNaming({ port: 0, steps: [ok] }, 'port', /1 to 65535/);
      await rejectsNaming({ port: 80.5, steps: [ok] }, 'port', /whole number/);
      await rejectsNaming({ port: '80', steps: [ok] }, 'port', /whole number/);
    });
    test('env value not a string', () => rejectsNaming({ env: { OK: 'x', X: 1 }, steps: [ok] }, 'env.X', /must be a string/));
    test('portEnv with an invalid name', async () => {
      await rejectsNaming({ portEnv: ['1PORT'], steps: [ok] }, 'portEnv[0]', /environment variable name/);
      await rejectsNaming({ portEnv: ['PORT', 'MY-PORT'], steps: [ok] }, 'portEnv[1]', /environment variable name/);
    });
    test('expectStatus out of range', () => rejectsNaming({ steps: [{ invoke: { expectStatus: 42 } }] }, 'steps[0].invoke.expectStatus', /100 to 599/));
    test('compare.body neither bytes nor json', () => rejectsNaming({ compare: { body: 'xml' }, steps: [ok] }, 'compare.body', /"bytes" or "json"/));
    test('version other than 1', () => rejectsNaming({ version: 2, steps: [ok] }, 'version', /must be 1/));
    test('a top level that is not an object', () => rejectsNaming([ok], '(top level)', /must be an object/));
    test('an unknown platform', () => rejectsNaming({ platform: 'azure', steps: [ok] }, 'platform', /must be one of "http", "fc", "cloudrun", "lambda"/));
    test('a request step on lambda', () => rejectsNaming({ platform: 'lambda', steps: [ok] }, 'steps[0].request', /not a step of platform lambda, which takes "invoke" steps/));
    test('an initialize step on lambda', () => rejectsNaming({ platform: 'lambda', steps: [{ initialize: {} }] }, 'steps[0].initialize', /not a step of platform lambda/));
    test('an invoke step on cloudrun', () => rejectsNaming({ platform: 'cloudrun', steps: [{ invoke: {} }] }, 'steps[0].invoke', /not a step of platform cloudrun, which takes "request" steps/));
    test('an HTTP field in a lambda step', () =>
      rejectsNaming({ platform: 'lambda', steps: [{ invoke: { json: {}, path: '/x' } }] }, 'steps[0].invoke.path', /not a known field/));
    test('an HTTP readiness on lambda', () =>
      rejectsNaming({ platform: 'lambda', readiness: { http: '/health' }, steps: [{ invoke: {} }] }, 'readiness.http', /ready when it first polls the Runtime API/));
    test('a port on lambda', () => rejectsNaming({ platform: 'lambda', port: 8080, steps: [{ invoke: {} }] }, 'port', /does not apply to platform lambda/));
    test('lambda settings on another platform', () => rejectsNaming({ platform: 'fc', lambda: {}, steps: [ok] }, 'lambda', /applies to platform lambda only/));
    test('an account id that is not 12 digits', () =>
      rejectsNaming({ platform: 'lambda', lambda: { accountId: '12-34' }, steps: [{ invoke: {} }] }, 'lambda.accountId', /12 digits/));
    test('a function name that would break the ARN', () =>
      rejectsNaming({ platform: 'lambda', lambda: { functionName: 'a:b' }, steps: [{ invoke: {} }] }, 'lambda.functionName', /letters, digits/));
    test('fc settings on cloudrun', () => rejectsNaming({ platform: 'cloudrun', fc: {}, steps: [ok] }, 'fc', /platform cloudrun has none of/));
    test('a lambda timeout beyond 900 s', () =>
      rejectsNaming({ platform: 'lambda', lambda: { timeoutS: 901 }, steps: [{ invoke: {} }] }, 'lambda.timeoutS', /1 to 900/));
  });

  describe('platforms set their contract\'s defaults', () => {
    test('http, the default, keeps the earlier behaviour', async () => {
      const r = await parseRecording({ steps: [ok, { invoke: {} }] }, recordingFile);
      assert.deepEqual([r.platform, r.port, r.portEnv, r.requests[0]!.compare.headers], ['http', 9000, ['PORT', 'FC_SERVER_PORT'], ['content-type']]);
    });
    test('fc: port 9000 through FC_SERVER_PORT, and verify compares x-fc-status', async () => {
      const r = await parseRecording({ platform: 'fc', steps: [{ initialize: {} }, { invoke: { text: 'event' } }] }, recordingFile);
      assert.deepEqual([r.port, r.portEnv], [9000, ['FC_SERVER_PORT']]);
      assert.deepEqual(r.requests[1]!.compare.headers, ['content-type', 'x-fc-status']);
      assert.equal(r.requests[1]!.headers['content-type'], 'application/octet-stream');
      assert.equal(r.requests[1]!.headers['x-fc-function-name'], 'function');
    });
    test('cloudrun: PORT, 8080', async () => {
      const r = await parseRecording({ platform: 'cloudrun', steps: [ok] }, recordingFile);
      assert.deepEqual([r.port, r.portEnv], [8080, ['PORT']]);
    });
    test('lambda: events, the Runtime API poll as readiness, the deadline as timeout, a stable request id per step', async () => {
      const value = { platform: 'lambda', lambda: { functionName: 'orders', timeoutS: 5 }, steps: [{ invoke: { json: { a: 1 } } }, { invoke: { text: 'x', timeoutMs: 100 } }] };
      const r = await parseRecording(value, recordingFile);
      assert.deepEqual(r.readiness, { kind: 'runtime-api', timeoutMs: 60000 });
      assert.deepEqual(r.portEnv, []);
      assert.equal(r.lambda?.functionName, 'orders');
      assert.deepEqual(
        r.requests.map((q) => [q.name, q.body.toString(), q.timeoutMs, q.compare.headers]),
        [
          ['invoke #1', '{"a":1}', 5000, ['content-type', 'x-amz-function-error']],
          ['invoke #2', 'x', 100, ['content-type', 'x-amz-function-error']],
        ],
      );
      const own = await parseRecording({ ...value, compare: { headers: ['x-custom'] } }, recordingFile);
      assert.deepEqual(own.requests[0]!.compare.headers, ['x-custom', 'x-amz-function-error'], 'the function-error header stays compared');
      const again = await parseRecording(value, recordingFile);
      assert.equal(r.requests[0]!.headers['lambda-runtime-aws-request-id'], again.requests[0]!.headers['lambda-runtime-aws-request-id']);
      assert.match(r.requests[0]!.headers['lambda-runtime-aws-request-id']!, UUID);
      assert.notEqual(r.requests[0]!.headers['lambda-runtime-aws-request-id'], r.requests[1]!.headers['lambda-runtime-aws-request-id']);
    });
  });
});

describe('loadRecording', () => {
  test('reads a file and anchors body files at its directory', async () => {
    const dir = join(tmp.path, 'sub');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'body.txt'), 'from the sub directory');
    const file = join(dir, 'rec.json');
    await writeFile(file, JSON.stringify({ port: 9100, steps: [{ invoke: { file: 'body.txt' } }] }));
    const rec = await loadRecording(file);
    assert.equal(rec.port, 9100);
    assert.equal(rec.requests[0]!.body.toString(), 'from the sub directory');
  });

  test('invalid JSON is an input error (exit code 3) naming the file', async () => {
    const file = join(tmp.path, 'broken.json');
    await writeFile(file, '{"steps": [');
    await assert.rejects(loadRecording(file), (err: unknown) => {
      assert.ok(err instanceof SlimError);
      assert.equal(err.exitCode, 3);
      assert.match(err.message, /broken\.json is not valid JSON/);
      return true;
    });
  });

  test('a missing file is an input error naming the file', async () => {
    const file = join(tmp.path, 'absent.json');
    await assert.rejects(loadRecording(file), (err: unknown) => {
      assert.ok(err instanceof SlimError);
      assert.equal(err.exitCode, 3);
      assert.match(err.message, /cannot read recording .*absent\.json: ENOENT/);
      return true;
    });
  });
});

describe('bodyField', () => {
  test('picks the most readable exact form', () => {
    assert.deepEqual(bodyField(Buffer.alloc(0), 'application/json'), {});
    assert.deepEqual(bodyField(Buffer.from('{"a":[1,2]}'), 'application/json'), { json: { a: [1, 2] } });
    assert.deepEqual(bodyField(Buffer.from('{"a":1}'), 'application/json; charset=utf-8'), { json: { a: 1 } });
    assert.deepEqual(bodyField(Buffer.from('{"a":1}'), 'application/vnd.api+json'), { json: { a: 1 } });
    // JSON that would not come back byte for byte stays text
    assert.deepEqual(bodyField(Buffer.from('{ "a": 1 }'), 'application/json'), { text: '{ "a": 1 }' });
    assert.deepEqual(bodyField(Buffer.from('{"a":1.0}'), 'application/json'), { text: '{"a":1.0}' });
    assert.deepEqual(bodyField(Buffer.from('{not json'), 'application/json'), { text: '{not json' });
    // JSON under another content type is text
    assert.deepEqual(bodyField(Buffer.from('{"a":1}'), 'text/plain'), { text: '{"a":1}' });
    assert.deepEqual(bodyField(Buffer.from('{"a":1}'), undefined), { text: '{"a":1}' });
    assert.deepEqual(bodyField(Buffer.from('grüße'), undefined), { text: 'grüße' });
    assert.deepEqual(bodyField(Buffer.from([0xff, 0xfe, 0x00, 0x41]), 'application/json'), { base64: '//4AQQ==' });
  });
});

function exchange(e: Partial<Exchange> & Pick<Exchange, 'method' | 'path' | 'status'>): Exchange {
  return { headers: {}, body: Buffer.alloc(0), responseHeaders: {}, responseBody: Buffer.alloc(0), ...e };
}

describe('recordingFromExchanges', () => {
  test('steps replay the requests as sent, minus hop-by-hop headers, expecting the status seen', () => {
    const file = recordingFromExchanges(
      [
        exchange({ method: 'GET', path: '/missing', status: 404, headers: { host: 'x', accept: '*/*' } }),
        exchange({ method: 'POST', path: '/ok', status: 200 }),
        exchange({ method: 'GET', path: '/health?deep=1', status: 200, headers: { connection: 'keep-alive', 'Content-Length': '0' } }),
        exchange({
          method: 'PUT',
          path: '/data',
          status: 201,
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'x-api-key': 'k' },
          body: Buffer.from('{"n":1}'),
        }),
      ],
      { port: 8080, portEnv: ['PORT'] },
    );
    assert.equal(file.version, 1);
    assert.equal(file.port, 8080);
    assert.deepEqual(file.portEnv, ['PORT']);
    assert.deepEqual(file.readiness, { http: '/health?deep=1', timeoutMs: 60000 }, 'the first GET that answered 2xx');
    assert.deepEqual(file.steps, [
      { request: { method: 'GET', path: '/missing', headers: { accept: '*/*' }, expectStatus: 404 } },
      { request: { method: 'POST', path: '/ok', expectStatus: 200 } },
      { request: { method: 'GET', path: '/health?deep=1', expectStatus: 200 } },
      { request: { method: 'PUT', path: '/data', headers: { 'content-type': 'application/json', 'x-api-key': 'k' }, json: { n: 1 }, expectStatus: 201 } },
    ]);
  });

  test('without a successful GET, readiness is GET /', () => {
    const file = recordingFromExchanges([exchange({ method: 'GET', path: '/x', status: 500 }), exchange({ method: 'POST', path: '/y', status: 200 })], {
      port: 9000,
      portEnv: [],
    });
    assert.deepEqual(file.readiness, { http: '/', timeoutMs: 60000 });
  });
});

// ---------------------------------------------------------------------------------------------
// Against a real HTTP server on 127.0.0.1

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A tiny function: /echo answers with the body, /status/N answers N, /hang never answers. */
async function startFunction(): Promise<{ server: Server; port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const status = /^\/status\/(\d{3})/.exec(req.url ?? '');
      if (req.url === '/hang') return;
      if (req.url === '/half') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        return;
      }
      if (status) {
        res.writeHead(Number(status[1]), { 'content-type': 'text/plain' });
        res.end(`status ${status[1]} body`);
        return;
      }
      if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
        return;
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'x-method': req.method! });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    server,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** A raw TCP server answering every request with `response` as bytes, the way busybox httpd passes a CGI's LF-only headers on. */
async function startRawServer(response: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = createNetServer((socket) => {
    socket.once('data', () => socket.end(response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no port');
  return { port: address.port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const BARE_LF_RESPONSE = 'HTTP/1.0 200 OK\nContent-Type: text/plain\nX-Script: cgi\n\nhello from cgi\n';

describe('sendHttp', () => {
  let fn: Awaited<ReturnType<typeof startFunction>>;
  before(async () => {
    fn = await startFunction();
  });
  after(() => fn.close());

  test('sends method, path, headers and body; returns status, lower-cased headers, body and elapsed time', async () => {
    const response = await sendHttp('127.0.0.1', fn.port, {
      method: 'PUT',
      path: '/echo?q=1',
      headers: { 'Content-Type': 'application/x-test', 'X-One': '1' },
      body: Buffer.from('payload'),
      timeoutMs: 5000,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'application/x-test');
    assert.equal(response.headers['x-method'], 'PUT');
    assert.equal(response.body.toString(), 'payload');
    assert.ok(response.elapsedMs > 0);
    const seen = fn.seen.at(-1)!;
    assert.equal(seen.url, '/echo?q=1');
    assert.equal(seen.headers['x-one'], '1');
    assert.equal(seen.headers['content-length'], '7');
  });

  test('accepts a response whose lines end in a bare LF, and returns exactly what the server sent', async () => {
    const raw = await startRawServer(BARE_LF_RESPONSE);
    try {
      const response = await sendHttp('127.0.0.1', raw.port, { method: 'GET', path: '/cgi-bin/hello', headers: {}, body: Buffer.alloc(0), timeoutMs: 5000 });
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], 'text/plain');
      assert.equal(response.headers['x-script'], 'cgi');
      assert.equal(response.body.toString(), 'hello from cgi\n');
    } finally {
      await raw.close();
    }
  });

  test('a request that gets no answer rejects with HttpTimeoutError, also when the body never ends', async () => {
    for (const path of ['/hang', '/half']) {
      const started = Date.now();
      await assert.rejects(
        sendHttp('127.0.0.1', fn.port, { method: 'GET', path, headers: {}, body: Buffer.alloc(0), timeoutMs: 150 }),
        (err: unknown) => err instanceof HttpTimeoutError && /no answer within 150 ms/.test(err.message),
      );
      assert.ok(Date.now() - started < 3000);
    }
  });
});

describe('replay', () => {
  let fn: Awaited<ReturnType<typeof startFunction>>;
  before(async () => {
    fn = await startFunction();
  });
  after(() => fn.close());

  test('sends the requests in order and returns every response', async () => {
    const recording = await parseRecording(
      {
        steps: [
          { request: { method: 'GET', path: '/health', expectStatus: 200 } },
          { invoke: { json: { n: 1 }, expectStatus: 201 } },
          { request: { method: 'GET', path: '/status/404' } },
        ],
      },
      recordingFile,
    );
    fn.seen.length = 0;
    const results = await replay(recording, httpTo(fn.port));
    assert.deepEqual(
      results.map((r) => [r.request.name, r.response.status]),
      [
        ['GET /health', 200],
        ['invoke #1', 201],
        ['GET /status/404', 404],
      ],
    );
    assert.equal(results[1]!.response.body.toString(), '{"n":1}');
    assert.ok(results.every((r, i) => i === 0 || r.sentAt >= results[i - 1]!.sentAt));
    assert.deepEqual(
      fn.seen.map((s) => `${s.method} ${s.url}`),
      ['GET /health', 'POST /invoke', 'GET /status/404'],
    );
    assert.equal(fn.seen[1]!.headers['x-fc-request-id'], recording.requests[1]!.headers['x-fc-request-id']);
  });

  test('an unexpected status stops the replay with an error naming the request and both statuses', async () => {
    const recording = await parseRecording(
      {
        steps: [
          { request: { method: 'GET', path: '/status/500', expectStatus: 200 } },
          { request: { method: 'GET', path: '/health' } },
        ],
      },
      recordingFile,
    );
    fn.seen.length = 0;
    await assert.rejects(replay(recording, httpTo(fn.port)), (err: unknown) => {
      assert.ok(err instanceof ReplayError);
      assert.ok(err instanceof SlimError);
      assert.match(err.message, /request "GET \/status\/500" \(GET \/status\/500\) answered 500, the recording expects 200: status 500 body/);
      return true;
    });
    assert.deepEqual(
      fn.seen.map((s) => s.url),
      ['/status/500'],
      'nothing is sent after the failing request',
    );
  });

  test('a request that hangs fails with "got no answer within" its timeout', async () => {
    const recording = await parseRecording({ steps: [{ invoke: { path: '/hang', timeoutMs: 200 } }] }, recordingFile);
    await assert.rejects(replay(recording, httpTo(fn.port)), (err: unknown) => {
      assert.ok(err instanceof ReplayError);
      assert.match(err.message, /request "invoke #1" \(POST \/hang\) got no answer within 200 ms/);
      return true;
    });
  });

  test('a refused connection fails naming the request', async () => {
    const port = await freePort();
    const recording: Recording = await parseRecording({ steps: [{ request: { method: 'GET', path: '/' } }] }, recordingFile);
    await assert.rejects(replay(recording, httpTo(port)), (err: unknown) => {
      assert.ok(err instanceof ReplayError);
      assert.match(err.message, /request "GET \/" \(GET \/\) failed: .*ECONNREFUSED/);
      return true;
    });
  });
});

describe('RecordingProxy', () => {
  test('records and forwards a function whose response lines end in a bare LF', async () => {
    const raw = await startRawServer(BARE_LF_RESPONSE);
    const proxy = new RecordingProxy(raw.port);
    try {
      const port = await proxy.listen(0);
      const response = await sendHttp('127.0.0.1', port, { method: 'GET', path: '/cgi-bin/hello', headers: {}, body: Buffer.alloc(0), timeoutMs: 5000 });
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), 'hello from cgi\n');
      assert.deepEqual(
        proxy.exchanges.map((e) => [e.path, e.status, e.responseHeaders['x-script'], e.responseBody.toString()]),
        [['/cgi-bin/hello', 200, 'cgi', 'hello from cgi\n']],
      );
    } finally {
      await proxy.close();
      await raw.close();
    }
  });

  let fn: Awaited<ReturnType<typeof startFunction>>;
  before(async () => {
    fn = await startFunction();
  });
  after(() => fn.close());

  test('forwards requests, captures exchanges in order, and the recording built from them replays the same requests', async () => {
    const proxy = new RecordingProxy(fn.port);
    try {
      const port = await proxy.listen(0);
      assert.ok(port > 0 && port !== fn.port);
      const send = (method: string, path: string, headers: Record<string, string> = {}, body = Buffer.alloc(0)) =>
        sendHttp('127.0.0.1', port, { method, path, headers, body, timeoutMs: 5000 });
      const binary = Buffer.from([0x00, 0xff, 0x10, 0x80]);
      const responses = [
        await send('GET', '/health'),
        await send('POST', '/orders', { 'content-type': 'application/json', 'x-api-key': 'secret' }, Buffer.from('{"sku":"apple","qty":3}')),
        await send('PUT', '/blob', { 'content-type': 'application/octet-stream' }, binary),
        await send('GET', '/status/404'),
      ];
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 201, 200, 404],
      );
      assert.equal(responses[1]!.body.toString(), '{"sku":"apple","qty":3}');
      assert.deepEqual(responses[2]!.body, binary);
      assert.equal(responses[3]!.body.toString(), 'status 404 body');

      const ex = proxy.exchanges;
      assert.deepEqual(
        ex.map((e) => [e.method, e.path, e.status]),
        [
          ['GET', '/health', 200],
          ['POST', '/orders', 201],
          ['PUT', '/blob', 200],
          ['GET', '/status/404', 404],
        ],
      );
      assert.equal(ex[1]!.body.toString(), '{"sku":"apple","qty":3}');
      assert.equal(ex[1]!.headers['x-api-key'], 'secret');
      assert.equal(ex[1]!.responseBody.toString(), '{"sku":"apple","qty":3}');
      assert.equal(ex[1]!.responseHeaders['x-method'], 'POST');
      assert.deepEqual(ex[2]!.body, binary);
      assert.equal(ex[0]!.responseBody.toString(), 'ok');
      assert.equal(fn.seen.at(-2)!.headers.host, `127.0.0.1:${fn.port}`, 'the function sees its own address as host');

      // the file record writes must load again to the same requests
      const file = JSON.parse(JSON.stringify(recordingFromExchanges(ex, { port: 9000, portEnv: ['PORT'] }))) as unknown;
      const recording = await parseRecording(file, recordingFile);
      assert.deepEqual(recording.readiness, { kind: 'http', method: 'GET', path: '/health', timeoutMs: 60000 });
      assert.equal(recording.requests.length, 4);
      for (const [i, request] of recording.requests.entries()) {
        const e = ex[i]!;
        assert.equal(request.method, e.method);
        assert.equal(request.path, e.path);
        assert.deepEqual(request.body, e.body, `body of request ${i}`);
        assert.equal(request.expectStatus, e.status);
        for (const hop of ['host', 'connection', 'content-length', 'transfer-encoding']) assert.equal(request.headers[hop], undefined, `${hop} is dropped`);
      }
      assert.equal(recording.requests[1]!.headers['x-api-key'], 'secret');
      assert.equal(recording.requests[1]!.headers['content-type'], 'application/json');
      assert.equal(recording.requests[2]!.headers['content-type'], 'application/octet-stream');

      // and replaying it against the function meets every expectation
      const replayed = await replay(recording, httpTo(fn.port));
      assert.deepEqual(
        replayed.map((r) => r.response.status),
        [200, 201, 200, 404],
      );
    } finally {
      await proxy.close();
    }
  });

  test(
    'forwards a request the client sent with a chunked body',
    async () => {
      const proxy = new RecordingProxy(fn.port);
      try {
        const port = await proxy.listen(0);
        const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/stream', headers: { 'content-type': 'text/plain' }, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          });
          req.on('error', reject);
          req.write('abc'); // no content-length: node sends the body chunked
          setTimeout(() => req.end('def'), 10);
        });
        assert.equal(result.status, 201);
        assert.equal(result.body, 'abcdef');
        assert.equal(proxy.exchanges[0]!.body.toString(), 'abcdef');
        assert.equal(proxy.exchanges[0]!.status, 201);
      } finally {
        await proxy.close();
      }
    },
  );

  test('answers 502 when the function does not answer, and records nothing', async () => {
    const proxy = new RecordingProxy(await freePort());
    try {
      const port = await proxy.listen(0);
      const response = await sendHttp('127.0.0.1', port, { method: 'GET', path: '/', headers: {}, body: Buffer.alloc(0), timeoutMs: 5000 });
      assert.equal(response.status, 502);
      assert.match(response.body.toString(), /did not answer/);
      assert.deepEqual(proxy.exchanges, []);
    } finally {
      await proxy.close();
    }
  });

  test('close() before listen() resolves', async () => {
    await new RecordingProxy(1).close();
  });
});
