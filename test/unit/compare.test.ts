import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpResponse } from '../../src/recording/http-client.js';
import type { CompareRules, RecordedRequest } from '../../src/recording/types.js';
import { compareResponses, describeBodyDifference, renderDifferences, type Difference } from '../../src/verify/compare.js';

function request(compare: Partial<CompareRules> = {}, name = 'invoke #1', method = 'POST', path = '/invoke'): RecordedRequest {
  return {
    name,
    method,
    path,
    headers: {},
    body: Buffer.from('{}'),
    timeoutMs: 1000,
    compare: { headers: [], ignoreHeaders: [], body: 'bytes', ignoreJsonFields: [], ...compare },
  };
}

function response(body: string | Buffer, headers: Record<string, string> = {}, status = 200): HttpResponse {
  return { status, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body), elapsedMs: 1 };
}

const json = (v: unknown) => JSON.stringify(v);

describe('compareResponses', () => {
  test('equal responses have no differences', () => {
    const r = request({ headers: ['content-type'] });
    const a = response('hello', { 'content-type': 'text/plain' });
    assert.deepEqual(compareResponses(r, a, response('hello', { 'content-type': 'text/plain' })), []);
  });

  test('a different status is a difference', () => {
    const diffs = compareResponses(request(), response('x'), response('x', {}, 500));
    assert.deepEqual(diffs, [{ kind: 'status', detail: 'status: 200 (original) ≠ 500 (slim)', original: '200', slim: '500' }]);
  });

  test('listed headers are compared; missing on one side is a difference', () => {
    const r = request({ headers: ['content-type', 'x-version'] });
    const diffs = compareResponses(
      r,
      response('x', { 'content-type': 'application/json', 'x-version': '1' }),
      response('x', { 'content-type': 'text/plain' }),
    );
    assert.deepEqual(diffs, [
      { kind: 'header', detail: 'header content-type: application/json (original) ≠ text/plain (slim)', original: 'application/json', slim: 'text/plain' },
      { kind: 'header', detail: 'header x-version: 1 (original) ≠ missing (slim)', original: '1' },
    ]);
  });

  test('ignored headers and headers not listed are not compared', () => {
    const r = request({ headers: ['date', 'content-type'], ignoreHeaders: ['date'] });
    const a = response('x', { date: 'Mon', 'content-type': 'text/plain', server: 'a' });
    const b = response('x', { date: 'Tue', 'content-type': 'text/plain', etag: 'W/1' });
    assert.deepEqual(compareResponses(r, a, b), []);
  });

  test('bytes mode: one changed byte in a binary body names the offset', () => {
    const a = Buffer.from([0, 1, 2, 3, 4, 5]);
    const b = Buffer.from([0, 1, 2, 9, 4, 5]);
    const diffs = compareResponses(request(), response(a), response(b));
    assert.equal(diffs.length, 1);
    assert.equal(diffs[0]!.kind, 'body');
    assert.match(diffs[0]!.detail, /^body: binary bodies differ at byte offset 3 \(0x03 ≠ 0x09\)/);
    assert.match(diffs[0]!.detail, /original: 6 bytes, sha256 [0-9a-f]{12}\n/);
    assert.match(diffs[0]!.original!, /^6 bytes, sha256 [0-9a-f]{12}$/);
  });

  test('bytes mode: text bodies show the first differing line', () => {
    const diffs = compareResponses(request(), response('one\ntwo\nthree\n', { 'content-type': 'text/plain' }), response('one\ntwo\nthr3e\n'));
    assert.equal(
      diffs[0]!.detail,
      'body: text differs at line 3, column 4\n  original: "three"\n  slim:     "thr3e"',
    );
  });

  test('bytes mode: JSON that differs only in key order is still a difference', () => {
    const diffs = compareResponses(request(), response('{"a":1,"b":2}'), response('{"b":2,"a":1}'));
    assert.match(diffs[0]!.detail, /^body: JSON-equal, but text differs at line 1, column 3/);
  });

  test('json mode: key order and whitespace do not matter', () => {
    const r = request({ body: 'json' });
    assert.deepEqual(compareResponses(r, response('{"a":1,"b":[1,2]}'), response('{\n  "b": [1, 2],\n  "a": 1\n}\n')), []);
  });

  test('json mode: differing values list their paths', () => {
    const r = request({ body: 'json' });
    const diffs = compareResponses(r, response(json({ totals: [{ amount: 3 }, { amount: 3 }] })), response(json({ totals: [{ amount: 3 }, { amount: 4 }], x: 1 })));
    assert.equal(diffs[0]!.detail, 'body: 2 JSON paths differ\n  $.totals[1].amount: 3 ≠ 4\n  $.x: missing ≠ 1');
  });

  test('json mode: ignoreJsonFields removes nested paths, array wildcards and object wildcards', () => {
    const r = request({ body: 'json', ignoreJsonFields: ['meta.requestId', 'items.*.id', 'hosts.*.pid', 'rows.0.at'] });
    const a = {
      meta: { requestId: 'a1', region: 'eu' },
      items: [{ id: 1, name: 'x' }, { id: 2, name: 'y' }],
      hosts: { web: { pid: 10, up: true }, db: { pid: 11, up: true } },
      rows: [{ at: 1, v: 'p' }, { at: 2, v: 'q' }],
    };
    const b = {
      meta: { requestId: 'b2', region: 'eu' },
      items: [{ id: 7, name: 'x' }, { name: 'y' }],
      hosts: { web: { pid: 20, up: true }, db: { pid: 21, up: true } },
      rows: [{ at: 9, v: 'p' }, { at: 2, v: 'q' }],
    };
    assert.deepEqual(compareResponses(r, response(json(a)), response(json(b))), []);

    // fields next to the ignored ones are still compared, and `rows.0.at` leaves rows[1].at alone
    b.meta.region = 'us';
    b.rows[1]!.at = 3;
    const diffs = compareResponses(r, response(json(a)), response(json(b)));
    assert.equal(diffs[0]!.detail, 'body: 2 JSON paths differ\n  $.meta.region: "eu" ≠ "us"\n  $.rows[1].at: 2 ≠ 3');
  });

  test('json mode: ignoring a whole array element keeps the rest aligned', () => {
    const r = request({ body: 'json', ignoreJsonFields: ['list.0'] });
    assert.deepEqual(compareResponses(r, response('{"list":[1,2,3]}'), response('{"list":[9,2,3]}')), []);
    const diffs = compareResponses(r, response('{"list":[1,2,3]}'), response('{"list":[9,2,4]}'));
    assert.equal(diffs[0]!.detail, 'body: 1 JSON path differs\n  $.list[2]: 3 ≠ 4');
  });

  test('json mode: invalid JSON on one side is a difference naming that side', () => {
    const r = request({ body: 'json' });
    const diffs = compareResponses(r, response('{"ok":true}'), response('<html>502 Bad Gateway</html>'));
    assert.equal(diffs.length, 1);
    assert.match(diffs[0]!.detail, /^body: slim body is not valid JSON \(/);
    assert.doesNotMatch(diffs[0]!.detail, /original body/);
    assert.equal(diffs[0]!.slim, '<html>502 Bad Gateway</html>');

    const both = compareResponses(r, response('nope'), response('nah'));
    assert.match(both[0]!.detail, /original body is not valid JSON .*; slim body is not valid JSON/);
    assert.deepEqual(compareResponses(r, response(''), response('')), []);
  });

  test('long values are truncated with an ellipsis and their length', () => {
    const r = request({ headers: ['x-long'] });
    const long = 'a'.repeat(500);
    const [d] = compareResponses(r, response('x', { 'x-long': long }), response('x', { 'x-long': 'short' }));
    assert.equal(d!.original, `${'a'.repeat(200)}… (500 chars)`);
    assert.ok(d!.detail.length < 260);

    const body = compareResponses(request(), response('b'.repeat(1000)), response('c'));
    assert.equal(body[0]!.original, `${'b'.repeat(200)}… (1000 chars)`);
  });
});

describe('describeBodyDifference', () => {
  test('JSON bodies: at most 10 paths, then a count of the rest', () => {
    const a = Buffer.from(json(Array.from({ length: 15 }, (_, i) => i)));
    const b = Buffer.from(json(Array.from({ length: 15 }, (_, i) => i + 100)));
    const lines = describeBodyDifference(a, b, 'application/json').split('\n');
    assert.equal(lines[0], '15 JSON paths differ');
    assert.equal(lines[1], '  $[0]: 0 ≠ 100');
    assert.equal(lines.length, 12);
    assert.equal(lines[11], '  … and 5 more');
  });

  test('odd keys are quoted in paths; type changes show both values', () => {
    const d = describeBodyDifference(Buffer.from('{"a b":{"c":[1]}}'), Buffer.from('{"a b":{"c":{"0":1}}}'));
    assert.equal(d, '1 JSON path differs\n  $["a b"].c: [1] ≠ {"0":1}');
  });

  test('a text content type is diffed as text even when it parses as JSON', () => {
    assert.equal(describeBodyDifference(Buffer.from('42'), Buffer.from('43'), 'text/plain'), 'text differs at line 1, column 2\n  original: "42"\n  slim:     "43"');
  });

  test('long lines are cut around the differing column; a missing line is the end of the body', () => {
    const a = `${'x'.repeat(300)}A${'y'.repeat(300)}`;
    const b = `${'x'.repeat(300)}B${'y'.repeat(300)}`;
    const lines = describeBodyDifference(Buffer.from(a), Buffer.from(b), 'text/plain').split('\n');
    assert.equal(lines[0], 'text differs at line 1, column 301');
    assert.match(lines[1]!, /^ {2}original: …"x{60}Ay{99}"…$/);
    assert.match(lines[2]!, /^ {2}slim: {5}…"x{60}By{99}"…$/);

    const shorter = describeBodyDifference(Buffer.from('a\nb'), Buffer.from('a\nb\nc'), 'text/plain');
    assert.equal(shorter, 'text differs at line 3\n  original: (end of body)\n  slim:     "c"');
  });

  test('binary bodies of different length: sizes, hashes and where the shorter ends', () => {
    const d = describeBodyDifference(Buffer.from([0xff, 0, 1]), Buffer.from([0xff, 0]));
    const lines = d.split('\n');
    assert.equal(lines[0], 'binary bodies differ at byte offset 2 (0x01 ≠ end of body)');
    assert.match(lines[1]!, /^ {2}original: 3 bytes, sha256 [0-9a-f]{12}$/);
    assert.match(lines[2]!, /^ {2}slim: {5}2 bytes, sha256 [0-9a-f]{12}$/);
    assert.notEqual(lines[1]!.slice(-12), lines[2]!.slice(-12));
  });

  test('identical bodies', () => {
    assert.equal(describeBodyDifference(Buffer.from('x'), Buffer.from('x')), 'bodies are identical');
  });
});

describe('renderDifferences', () => {
  test('a mixed set: one block per differing request and a summary', () => {
    const health = request({}, 'GET /health', 'GET', '/health');
    const first = request({}, 'invoke #1');
    const second = request({ body: 'json', headers: ['content-type'] }, 'invoke #2');
    const results: Array<{ request: RecordedRequest; differences: Difference[] }> = [
      { request: health, differences: compareResponses(health, response('ok'), response('ok')) },
      { request: first, differences: [] },
      {
        request: second,
        differences: compareResponses(
          second,
          response('{"totals":[1,3]}', { 'content-type': 'application/json' }),
          response('{"totals":[1,4]}', { 'content-type': 'text/plain' }, 500),
        ),
      },
      { request: health, differences: compareResponses(health, response('ok'), response('ok', {}, 503)) },
    ];
    assert.equal(
      renderDifferences(results),
      [
        '✗ invoke #2 (POST /invoke)',
        '  status: 200 (original) ≠ 500 (slim)',
        '  header content-type: application/json (original) ≠ text/plain (slim)',
        '  body: 1 JSON path differs',
        '    $.totals[1]: 3 ≠ 4',
        '',
        '✗ GET /health',
        '  status: 200 (original) ≠ 503 (slim)',
        '',
        '2 of 4 requests differ',
        '',
      ].join('\n'),
    );
  });

  test('all requests equal', () => {
    const r = request();
    assert.equal(renderDifferences([{ request: r, differences: [] }, { request: r, differences: [] }]), 'all 2 requests match\n');
  });
});
