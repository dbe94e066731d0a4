import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { inputError } from '../errors.js';
import { JsonChecker } from '../json-checker.js';
import type { CompareRules, Readiness, RecordedRequest, Recording } from './types.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_READY_TIMEOUT_MS = 60_000;
const DEFAULT_COMPARE: CompareRules = {
  headers: ['content-type'],
  ignoreHeaders: ['date', 'x-fc-request-id', 'etag', 'connection', 'keep-alive'],
  body: 'bytes',
  ignoreJsonFields: [],
};

/** Function Compute's defaults for the x-fc-* headers of `initialize` and `invoke` steps. */
const FC_DEFAULTS = {
  functionName: 'function',
  handler: 'index.handler',
  memoryMB: 512,
  timeoutS: 60,
  region: 'cn-hangzhou',
  accountId: '1234567890',
  qualifier: 'LATEST',
};

type Json = unknown;
type Obj = Record<string, Json>;

class Checker extends JsonChecker {
  constructor(file: string) {
    super(file, 'the recording format is described in README.md (Recordings)');
  }
}

/** A UUID-shaped request id that is the same on every replay, so original and slim see the same one. */
export function stableRequestId(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function parseCompare(c: Checker, value: Json, field: string, base: CompareRules): CompareRules {
  if (value === undefined) return base;
  const obj = c.object(value, field);
  c.only(obj, field, ['headers', 'ignoreHeaders', 'body', 'ignoreJsonFields']);
  const body = obj.body === undefined ? base.body : c.string(obj.body, `${field}.body`);
  if (body !== 'bytes' && body !== 'json') c.fail(`${field}.body`, 'must be "bytes" or "json"');
  const lower = (xs: string[] | undefined) => xs?.map((x) => x.toLowerCase());
  const ignoreJsonFields = c.optionalStrings(obj.ignoreJsonFields, `${field}.ignoreJsonFields`);
  return {
    headers: lower(c.optionalStrings(obj.headers, `${field}.headers`)) ?? base.headers,
    ignoreHeaders: lower(c.optionalStrings(obj.ignoreHeaders, `${field}.ignoreHeaders`)) ?? base.ignoreHeaders,
    body: ignoreJsonFields?.length && obj.body === undefined ? 'json' : body,
    ignoreJsonFields: ignoreJsonFields ?? base.ignoreJsonFields,
  };
}

async function parseBody(c: Checker, spec: Obj, field: string, dir: string): Promise<{ body: Buffer; contentType?: string }> {
  const given = ['text', 'base64', 'file', 'json'].filter((k) => spec[k] !== undefined);
  if (given.length > 1) c.fail(field, `has more than one body (${given.join(', ')}); give one`);
  if (spec.text !== undefined) return { body: Buffer.from(c.string(spec.text, `${field}.text`)) };
  if (spec.base64 !== undefined) {
    const text = c.string(spec.base64, `${field}.base64`);
    if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(text)) c.fail(`${field}.base64`, 'is not base64');
    return { body: Buffer.from(text, 'base64') };
  }
  if (spec.file !== undefined) {
    const name = c.string(spec.file, `${field}.file`);
    const path = isAbsolute(name) ? name : join(dir, name);
    try {
      return { body: await readFile(path) };
    } catch {
      c.fail(`${field}.file`, `names ${path}, which cannot be read`);
    }
  }
  if (spec.json !== undefined) return { body: Buffer.from(JSON.stringify(spec.json)), contentType: 'application/json' };
  return { body: Buffer.alloc(0) };
}

const REQUEST_FIELDS = ['method', 'path', 'headers', 'text', 'base64', 'file', 'json', 'expectStatus', 'timeoutMs', 'compare'];

interface FcSettings {
  functionName: string;
  handler: string;
  memoryMB: number;
  timeoutS: number;
  region: string;
  accountId: string;
  qualifier: string;
}

function parseFc(c: Checker, value: Json): FcSettings {
  if (value === undefined) return FC_DEFAULTS;
  const obj = c.object(value, 'fc');
  c.only(obj, 'fc', Object.keys(FC_DEFAULTS));
  return {
    functionName: c.optionalString(obj.functionName, 'fc.functionName') ?? FC_DEFAULTS.functionName,
    handler: c.optionalString(obj.handler, 'fc.handler') ?? FC_DEFAULTS.handler,
    memoryMB: c.optionalInt(obj.memoryMB, 'fc.memoryMB', 64, 65536) ?? FC_DEFAULTS.memoryMB,
    timeoutS: c.optionalInt(obj.timeoutS, 'fc.timeoutS', 1, 86400) ?? FC_DEFAULTS.timeoutS,
    region: c.optionalString(obj.region, 'fc.region') ?? FC_DEFAULTS.region,
    accountId: c.optionalString(obj.accountId, 'fc.accountId') ?? FC_DEFAULTS.accountId,
    qualifier: c.optionalString(obj.qualifier, 'fc.qualifier') ?? FC_DEFAULTS.qualifier,
  };
}

function fcHeaders(fc: FcSettings, kind: 'initialize' | 'invoke', requestId: string): Record<string, string> {
  const headers: Record<string, string> = {
    'x-fc-request-id': requestId,
    'x-fc-function-name': fc.functionName,
    'x-fc-function-handler': fc.handler,
    'x-fc-function-memory': String(fc.memoryMB),
    'x-fc-function-timeout': String(fc.timeoutS),
    'x-fc-region': fc.region,
    'x-fc-account-id': fc.accountId,
    'x-fc-qualifier': fc.qualifier,
  };
  if (kind === 'initialize') {
    headers['x-fc-function-initializer'] = fc.handler.replace(/\.[^.]*$/, '.initializer');
    headers['x-fc-initialization-timeout'] = String(fc.timeoutS);
  }
  return headers;
}

async function parseStep(
  c: Checker,
  value: Json,
  index: number,
  dir: string,
  fc: FcSettings,
  compare: CompareRules,
  counters: Record<string, number>,
): Promise<RecordedRequest> {
  const field = `steps[${index}]`;
  const step = c.object(value, field);
  const kinds = ['initialize', 'invoke', 'request'].filter((k) => step[k] !== undefined);
  if (kinds.length !== 1) c.fail(field, 'must have exactly one of "initialize", "invoke" or "request"');
  c.only(step, field, kinds);
  const kind = kinds[0] as 'initialize' | 'invoke' | 'request';
  const specField = `${field}.${kind}`;
  const spec = c.object(step[kind], specField);
  c.only(spec, specField, REQUEST_FIELDS);

  const fcStep = kind !== 'request';
  const method = (c.optionalString(spec.method, `${specField}.method`) ?? (fcStep ? 'POST' : undefined))?.toUpperCase();
  if (!method) c.fail(`${specField}.method`, 'is required');
  if (!METHODS.includes(method)) c.fail(`${specField}.method`, `must be one of ${METHODS.join(', ')}`);
  const path = c.optionalString(spec.path, `${specField}.path`) ?? (fcStep ? `/${kind}` : undefined);
  if (!path) c.fail(`${specField}.path`, 'is required');
  if (!path.startsWith('/')) c.fail(`${specField}.path`, 'must start with /');
  const { body, contentType } = await parseBody(c, spec, specField, dir);
  const headers: Record<string, string> = {};
  if (fcStep) {
    counters[kind] = (counters[kind] ?? 0) + 1;
    Object.assign(headers, fcHeaders(fc, kind, stableRequestId(`${index}:${kind}:${body.toString('base64')}`)));
    headers['content-type'] = contentType ?? 'application/octet-stream';
  } else if (contentType) {
    headers['content-type'] = contentType;
  }
  const given = spec.headers === undefined ? {} : c.stringMap(spec.headers, `${specField}.headers`);
  for (const [k, v] of Object.entries(given)) headers[k.toLowerCase()] = v;
  const name = fcStep ? `${kind} #${counters[kind]}` : `${method} ${path}`;
  return {
    name,
    method,
    path,
    headers,
    body,
    expectStatus: c.optionalInt(spec.expectStatus, `${specField}.expectStatus`, 100, 599),
    timeoutMs: c.optionalInt(spec.timeoutMs, `${specField}.timeoutMs`, 1, 3_600_000) ?? DEFAULT_TIMEOUT_MS,
    compare: parseCompare(c, spec.compare, `${specField}.compare`, compare),
  };
}

function parseReadiness(c: Checker, value: Json): Readiness {
  if (value === undefined) return { kind: 'http', method: 'GET', path: '/', timeoutMs: DEFAULT_READY_TIMEOUT_MS };
  const obj = c.object(value, 'readiness');
  c.only(obj, 'readiness', ['http', 'method', 'log', 'timeoutMs']);
  const timeoutMs = c.optionalInt(obj.timeoutMs, 'readiness.timeoutMs', 1, 3_600_000) ?? DEFAULT_READY_TIMEOUT_MS;
  if ((obj.http === undefined) === (obj.log === undefined)) c.fail('readiness', 'must have exactly one of "http" (a path) or "log" (a text)');
  if (obj.http !== undefined) {
    const path = c.string(obj.http, 'readiness.http');
    if (!path.startsWith('/')) c.fail('readiness.http', 'must start with /');
    const method = (c.optionalString(obj.method, 'readiness.method') ?? 'GET').toUpperCase();
    if (!METHODS.includes(method)) c.fail('readiness.method', `must be one of ${METHODS.join(', ')}`);
    return { kind: 'http', method, path, timeoutMs };
  }
  const pattern = c.string(obj.log, 'readiness.log');
  if (!pattern) c.fail('readiness.log', 'must not be empty');
  return { kind: 'log', pattern, timeoutMs };
}

/** Validates a parsed recording; `file` names it in errors and anchors body files. */
export async function parseRecording(value: Json, file: string): Promise<Recording> {
  const c = new Checker(file);
  const root = c.object(value, '(top level)');
  c.only(root, '', ['version', 'port', 'portEnv', 'readiness', 'env', 'entrypoint', 'command', 'compare', 'fc', 'steps']);
  if (root.version !== undefined && root.version !== 1) c.fail('version', 'must be 1');
  const fc = parseFc(c, root.fc);
  const compare = parseCompare(c, root.compare, 'compare', DEFAULT_COMPARE);
  if (!Array.isArray(root.steps)) c.fail('steps', 'must be an array of requests');
  const steps = root.steps as Json[];
  if (steps.length === 0) c.fail('steps', 'must hold at least one request');
  const counters: Record<string, number> = {};
  const requests: RecordedRequest[] = [];
  for (const [i, step] of steps.entries()) {
    requests.push(await parseStep(c, step, i, dirname(file), fc, compare, counters));
  }
  const portEnv = c.optionalStrings(root.portEnv, 'portEnv') ?? ['PORT', 'FC_SERVER_PORT'];
  for (const [i, name] of portEnv.entries()) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) c.fail(`portEnv[${i}]`, 'must be an environment variable name');
  }
  return {
    version: 1,
    port: c.optionalInt(root.port, 'port', 1, 65535) ?? 9000,
    portEnv,
    readiness: parseReadiness(c, root.readiness),
    env: root.env === undefined ? {} : c.stringMap(root.env, 'env'),
    entrypoint: c.optionalStrings(root.entrypoint, 'entrypoint'),
    command: c.optionalStrings(root.command, 'command'),
    requests,
  };
}

/** Reads and validates a recording file. */
export async function loadRecording(file: string): Promise<Recording> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read recording ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseRecording(json, file);
}
