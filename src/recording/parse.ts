import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { inputError } from '../errors.js';
import { JsonChecker } from '../json-checker.js';
import { LAMBDA_REQUEST_ID_HEADER, type LambdaSettings } from '../platform/lambda-runtime-api.js';
import { PLATFORMS, type CompareRules, type Platform, type Readiness, type RecordedRequest, type Recording } from './types.js';

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

/** Lambda's defaults for the function's identity (environment, ARN, deadline). */
export const LAMBDA_DEFAULTS: LambdaSettings = {
  functionName: 'function',
  memoryMB: 512,
  timeoutS: 30,
  region: 'us-east-1',
  accountId: '123456789012',
};

/** The invoke endpoint of AWS's Runtime Interface Emulator; a Lambda step's name for where it goes. */
export const LAMBDA_INVOKE_PATH = '/2015-03-31/functions/function/invocations';

type StepKind = 'initialize' | 'invoke' | 'request';

/** What each platform expects of a recording when the file does not say. */
interface PlatformContract {
  port: number;
  portEnv: string[];
  steps: StepKind[];
  /** headers verify always compares, added to each step's own (how the platform reports a function error) */
  compareHeaders: string[];
}

const CONTRACTS: Record<Platform, PlatformContract> = {
  http: { port: 9000, portEnv: ['PORT', 'FC_SERVER_PORT'], steps: ['initialize', 'invoke', 'request'], compareHeaders: [] },
  fc: { port: 9000, portEnv: ['FC_SERVER_PORT'], steps: ['initialize', 'invoke', 'request'], compareHeaders: ['x-fc-status'] },
  cloudrun: { port: 8080, portEnv: ['PORT'], steps: ['request'], compareHeaders: [] },
  lambda: { port: 9000, portEnv: [], steps: ['invoke'], compareHeaders: ['x-amz-function-error'] },
};

/** The port and port variables a platform gives its function when the recording does not say. */
export function platformPorts(platform: Platform): { port: number; portEnv: string[] } {
  return { port: CONTRACTS[platform].port, portEnv: CONTRACTS[platform].portEnv };
}

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

interface StepContext {
  dir: string;
  platform: Platform;
  fc: FcSettings;
  lambda?: LambdaSettings;
  compare: CompareRules;
  counters: Record<string, number>;
}

async function parseStep(c: Checker, value: Json, index: number, ctx: StepContext): Promise<RecordedRequest> {
  const { dir, fc, compare, counters } = ctx;
  const field = `steps[${index}]`;
  const step = c.object(value, field);
  const kinds = ['initialize', 'invoke', 'request'].filter((k) => step[k] !== undefined);
  if (kinds.length !== 1) c.fail(field, 'must have exactly one of "initialize", "invoke" or "request"');
  c.only(step, field, kinds);
  const kind = kinds[0] as StepKind;
  const allowed = CONTRACTS[ctx.platform].steps;
  if (!allowed.includes(kind)) {
    c.fail(`${field}.${kind}`, `is not a step of platform ${ctx.platform}, which takes ${allowed.map((k) => `"${k}"`).join(' or ')} steps`);
  }
  const specField = `${field}.${kind}`;
  const spec = c.object(step[kind], specField);
  if (ctx.lambda) return parseLambdaInvoke(c, spec, specField, ctx.lambda, index, ctx);
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

const LAMBDA_STEP_FIELDS = ['text', 'base64', 'file', 'json', 'timeoutMs', 'compare'];

/** An `invoke` on Lambda: an event for the Runtime API, named and compared like an HTTP step. */
async function parseLambdaInvoke(c: Checker, spec: Obj, field: string, lambda: LambdaSettings, index: number, ctx: StepContext): Promise<RecordedRequest> {
  c.only(spec, field, LAMBDA_STEP_FIELDS);
  const { body } = await parseBody(c, spec, field, ctx.dir);
  ctx.counters.invoke = (ctx.counters.invoke ?? 0) + 1;
  return {
    name: `invoke #${ctx.counters.invoke}`,
    method: 'POST',
    path: LAMBDA_INVOKE_PATH,
    headers: { 'content-type': 'application/json', [LAMBDA_REQUEST_ID_HEADER]: stableRequestId(`${index}:lambda:${body.toString('base64')}`) },
    body,
    timeoutMs: c.optionalInt(spec.timeoutMs, `${field}.timeoutMs`, 1, 900_000) ?? lambda.timeoutS * 1000,
    compare: parseCompare(c, spec.compare, `${field}.compare`, ctx.compare),
  };
}

/** An optional string that must match `pattern` (it goes into an ARN). */
function matching(c: Checker, value: Json, field: string, pattern: RegExp, what: string): string | undefined {
  const text = c.optionalString(value, field);
  if (text !== undefined && !pattern.test(text)) c.fail(field, `must be ${what}`);
  return text;
}

function parseLambda(c: Checker, value: Json): LambdaSettings {
  if (value === undefined) return LAMBDA_DEFAULTS;
  const obj = c.object(value, 'lambda');
  c.only(obj, 'lambda', [...Object.keys(LAMBDA_DEFAULTS), 'handler']);
  return {
    functionName: matching(c, obj.functionName, 'lambda.functionName', /^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ (at most 64)') ?? LAMBDA_DEFAULTS.functionName,
    memoryMB: c.optionalInt(obj.memoryMB, 'lambda.memoryMB', 128, 10240) ?? LAMBDA_DEFAULTS.memoryMB,
    timeoutS: c.optionalInt(obj.timeoutS, 'lambda.timeoutS', 1, 900) ?? LAMBDA_DEFAULTS.timeoutS,
    region: matching(c, obj.region, 'lambda.region', /^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1') ?? LAMBDA_DEFAULTS.region,
    accountId: matching(c, obj.accountId, 'lambda.accountId', /^\d{12}$/, '12 digits') ?? LAMBDA_DEFAULTS.accountId,
    handler: c.optionalString(obj.handler, 'lambda.handler'),
  };
}

function parsePlatform(c: Checker, value: Json): Platform {
  if (value === undefined) return 'http';
  const name = c.string(value, 'platform');
  if (!(PLATFORMS as readonly string[]).includes(name)) c.fail('platform', `must be one of ${PLATFORMS.map((p) => `"${p}"`).join(', ')}`);
  return name as Platform;
}

/** Lambda's readiness is the first poll of the Runtime API; a recording may only change how long to wait. */
function parseLambdaReadiness(c: Checker, value: Json): Readiness {
  if (value === undefined) return { kind: 'runtime-api', timeoutMs: DEFAULT_READY_TIMEOUT_MS };
  const obj = c.object(value, 'readiness');
  for (const key of Object.keys(obj)) {
    if (key !== 'timeoutMs') c.fail(`readiness.${key}`, 'does not apply to platform lambda: the function is ready when it first polls the Runtime API; give only "timeoutMs"');
  }
  return { kind: 'runtime-api', timeoutMs: c.optionalInt(obj.timeoutMs, 'readiness.timeoutMs', 1, 3_600_000) ?? DEFAULT_READY_TIMEOUT_MS };
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
  c.only(root, '', ['version', 'platform', 'port', 'portEnv', 'readiness', 'env', 'entrypoint', 'command', 'compare', 'rerunOriginal', 'fc', 'lambda', 'steps']);
  if (root.version !== undefined && root.version !== 1) c.fail('version', 'must be 1');
  const platform = parsePlatform(c, root.platform);
  const contract = CONTRACTS[platform];
  if (platform === 'lambda') {
    for (const key of ['port', 'portEnv', 'fc'] as const) {
      if (root[key] !== undefined) c.fail(key, 'does not apply to platform lambda: the function polls slim\'s Runtime API instead of listening');
    }
  } else if (root.lambda !== undefined) {
    c.fail('lambda', `applies to platform lambda only (this recording is platform ${platform})`);
  }
  if (root.fc !== undefined && !contract.steps.includes('invoke')) c.fail('fc', `applies to Function Compute steps, which platform ${platform} has none of`);
  const lambda = platform === 'lambda' ? parseLambda(c, root.lambda) : undefined;
  const fc = parseFc(c, root.fc);
  const compare = parseCompare(c, root.compare, 'compare', DEFAULT_COMPARE);
  if (!Array.isArray(root.steps)) c.fail('steps', 'must be an array of requests');
  const steps = root.steps as Json[];
  if (steps.length === 0) c.fail('steps', 'must hold at least one request');
  const counters: Record<string, number> = {};
  const requests: RecordedRequest[] = [];
  for (const [i, step] of steps.entries()) {
    const request = await parseStep(c, step, i, { dir: dirname(file), platform, fc, lambda, compare, counters });
    // how the platform reports a function error is always compared (ignoreHeaders can still drop it)
    const missing = contract.compareHeaders.filter((h) => !request.compare.headers.includes(h));
    if (missing.length) request.compare = { ...request.compare, headers: [...request.compare.headers, ...missing] };
    requests.push(request);
  }
  const portEnv = c.optionalStrings(root.portEnv, 'portEnv') ?? contract.portEnv;
  for (const [i, name] of portEnv.entries()) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) c.fail(`portEnv[${i}]`, 'must be an environment variable name');
  }
  return {
    version: 1,
    platform,
    ...(lambda ? { lambda } : {}),
    port: c.optionalInt(root.port, 'port', 1, 65535) ?? contract.port,
    portEnv,
    readiness: lambda ? parseLambdaReadiness(c, root.readiness) : parseReadiness(c, root.readiness),
    env: root.env === undefined ? {} : c.stringMap(root.env, 'env'),
    entrypoint: c.optionalStrings(root.entrypoint, 'entrypoint'),
    command: c.optionalStrings(root.command, 'command'),
    requests,
    rerunOriginal: c.optionalBoolean(root.rerunOriginal, 'rerunOriginal') ?? false,
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
