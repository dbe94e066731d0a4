import { createHash } from 'node:crypto';
import type { HttpResponse } from '../recording/http-client.js';
import type { CompareRules, RecordedRequest } from '../recording/types.js';

/** One way the slim image answered differently from the original. */
export interface Difference {
  kind: 'status' | 'header' | 'body';
  /** a readable line; body differences add lines indented by two spaces */
  detail: string;
  /** the original's value, truncated; absent when the original had none (a missing header) */
  original?: string;
  /** the slim image's value, truncated; absent when the slim image had none */
  slim?: string;
}

const MAX_VALUE_CHARS = 200;
const MAX_JSON_PATHS = 10;
/** characters of a long differing line kept before the first differing column */
const LINE_CONTEXT_BEFORE = 60;
const LINE_WINDOW = 160;

/** Every way `slim` differs from `original` under `request.compare`; empty when they match. */
export function compareResponses(request: RecordedRequest, original: HttpResponse, slim: HttpResponse): Difference[] {
  const rules = request.compare;
  const differences: Difference[] = [];
  if (original.status !== slim.status) {
    differences.push({
      kind: 'status',
      detail: `status: ${original.status} (original) ≠ ${slim.status} (slim)`,
      original: String(original.status),
      slim: String(slim.status),
    });
  }
  differences.push(...compareHeaders(rules, original, slim));
  const body = compareBodies(rules, original, slim);
  if (body) differences.push(body);
  return differences;
}

function compareHeaders(rules: CompareRules, original: HttpResponse, slim: HttpResponse): Difference[] {
  const ignored = new Set(rules.ignoreHeaders.map((h) => h.toLowerCase()));
  const a = lowerCaseHeaders(original.headers);
  const b = lowerCaseHeaders(slim.headers);
  const differences: Difference[] = [];
  for (const name of new Set(rules.headers.map((h) => h.toLowerCase()))) {
    if (ignored.has(name)) continue;
    const x = a.get(name);
    const y = b.get(name);
    if (x === y) continue;
    const d: Difference = { kind: 'header', detail: `header ${name}: ${showHeader(x)} (original) ≠ ${showHeader(y)} (slim)` };
    if (x !== undefined) d.original = truncate(x);
    if (y !== undefined) d.slim = truncate(y);
    differences.push(d);
  }
  return differences;
}

function lowerCaseHeaders(headers: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function showHeader(value: string | undefined): string {
  if (value === undefined) return 'missing';
  return value === '' ? '""' : truncate(value);
}

function compareBodies(rules: CompareRules, original: HttpResponse, slim: HttpResponse): Difference | undefined {
  const a = original.body;
  const b = slim.body;
  // identical bytes match in either mode, including two empty bodies in JSON mode
  if (a.equals(b)) return undefined;
  const previews = { original: preview(a), slim: preview(b) };
  if (rules.body === 'bytes') {
    const contentType = lowerCaseHeaders(original.headers).get('content-type') ?? lowerCaseHeaders(slim.headers).get('content-type');
    return { kind: 'body', detail: `body: ${describeBodyDifference(a, b, contentType)}`, ...previews };
  }
  const x = parseJson(a);
  const y = parseJson(b);
  if (!x.ok || !y.ok) {
    const problem = (side: string, r: ParsedJson) => (r.ok ? [] : [`${side} body is not valid JSON (${r.error})`]);
    return { kind: 'body', detail: `body: ${[...problem('original', x), ...problem('slim', y)].join('; ')}`, ...previews };
  }
  for (const field of rules.ignoreJsonFields) {
    const segments = field.split('.');
    removePath(x.value, segments);
    removePath(y.value, segments);
  }
  const diffs = jsonDifferences(x.value, y.value);
  if (diffs.length === 0) return undefined;
  return { kind: 'body', detail: `body: ${renderJsonDifferences(diffs)}`, ...previews };
}

/**
 * Removes `segments` (`items`, `*`, `0`, `id`) from a parsed JSON value in place. An ignored array
 * element becomes null rather than being spliced out, so the elements after it stay aligned.
 */
function removePath(node: unknown, segments: string[]): void {
  if (segments.length === 0 || typeof node !== 'object' || node === null) return;
  const [head, ...rest] = segments as [string, ...string[]];
  if (Array.isArray(node)) {
    const indices = head === '*' ? node.keys() : /^\d+$/.test(head) && Number(head) < node.length ? [Number(head)] : [];
    for (const i of indices) {
      if (rest.length === 0) node[i] = null;
      else removePath(node[i], rest);
    }
    return;
  }
  const obj = node as Record<string, unknown>;
  const keys = head === '*' ? Object.keys(obj) : Object.hasOwn(obj, head) ? [head] : [];
  for (const k of keys) {
    if (rest.length === 0) delete obj[k];
    else removePath(obj[k], rest);
  }
}

/**
 * Explains how two bodies differ: differing JSON paths when both are JSON, the first differing
 * line when both are text, sizes, hashes and the first differing byte otherwise.
 */
export function describeBodyDifference(a: Buffer, b: Buffer, contentType?: string): string {
  if (a.equals(b)) return 'bodies are identical';
  const x = asText(a);
  const y = asText(b);
  if (x === undefined || y === undefined) return describeBinaryDifference(a, b);
  if (contentType === undefined || /json/i.test(contentType)) {
    const px = parseJson(a);
    const py = parseJson(b);
    if (px.ok && py.ok) {
      const diffs = jsonDifferences(px.value, py.value);
      if (diffs.length > 0) return renderJsonDifferences(diffs);
      return `JSON-equal, but ${describeTextDifference(x, y)}`;
    }
  }
  return describeTextDifference(x, y);
}

type ParsedJson = { ok: true; value: unknown } | { ok: false; error: string };

function parseJson(buf: Buffer): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) };
  } catch (err) {
    return { ok: false, error: truncate((err as Error).message, 80) };
  }
}

const MISSING = Symbol('missing');
interface JsonDifference {
  path: string;
  original: unknown;
  slim: unknown;
}

function jsonDifferences(a: unknown, b: unknown, path = '$', out: JsonDifference[] = []): JsonDifference[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const child = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      jsonDifferences(Object.hasOwn(a, key) ? a[key] : MISSING, Object.hasOwn(b, key) ? b[key] : MISSING, child, out);
    }
  } else if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      jsonDifferences(i < a.length ? a[i] : MISSING, i < b.length ? b[i] : MISSING, `${path}[${i}]`, out);
    }
  } else if (a !== b) {
    out.push({ path, original: a, slim: b });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function renderJsonDifferences(diffs: JsonDifference[]): string {
  const show = (v: unknown) => (v === MISSING ? 'missing' : truncate(JSON.stringify(v)));
  const lines = [`${diffs.length} JSON ${diffs.length === 1 ? 'path differs' : 'paths differ'}`];
  for (const d of diffs.slice(0, MAX_JSON_PATHS)) lines.push(`  ${d.path}: ${show(d.original)} ≠ ${show(d.slim)}`);
  if (diffs.length > MAX_JSON_PATHS) lines.push(`  … and ${diffs.length - MAX_JSON_PATHS} more`);
  return lines.join('\n');
}

function describeTextDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  let line = 0;
  while (line < la.length && line < lb.length && la[line] === lb[line]) line++;
  const x = la[line];
  const y = lb[line];
  let col = 0;
  if (x !== undefined && y !== undefined) {
    while (col < x.length && col < y.length && x[col] === y[col]) col++;
  }
  const where = x !== undefined && y !== undefined ? `line ${line + 1}, column ${col + 1}` : `line ${line + 1}`;
  return [`text differs at ${where}`, `  original: ${showLine(x, col)}`, `  slim:     ${showLine(y, col)}`].join('\n');
}

/** The line quoted (so whitespace and \r show), cut to a window around `col` when long. */
function showLine(line: string | undefined, col: number): string {
  if (line === undefined) return '(end of body)';
  const start = Math.max(0, Math.min(col - LINE_CONTEXT_BEFORE, line.length - LINE_WINDOW));
  const end = Math.min(line.length, start + LINE_WINDOW);
  return `${start > 0 ? '…' : ''}${JSON.stringify(line.slice(start, end))}${end < line.length ? '…' : ''}`;
}

function describeBinaryDifference(a: Buffer, b: Buffer): string {
  let offset = 0;
  while (offset < a.length && offset < b.length && a[offset] === b[offset]) offset++;
  const byteAt = (buf: Buffer) => (offset < buf.length ? `0x${buf[offset]!.toString(16).padStart(2, '0')}` : 'end of body');
  return [
    `binary bodies differ at byte offset ${offset} (${byteAt(a)} ≠ ${byteAt(b)})`,
    `  original: ${sizeAndHash(a)}`,
    `  slim:     ${sizeAndHash(b)}`,
  ].join('\n');
}

function sizeAndHash(buf: Buffer): string {
  return `${buf.length} bytes, sha256 ${createHash('sha256').update(buf).digest('hex').slice(0, 12)}`;
}

/** ignoreBOM keeps decoding one-to-one, so different bytes always give different strings. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function asText(buf: Buffer): string | undefined {
  if (buf.includes(0)) return undefined;
  try {
    return utf8.decode(buf);
  } catch {
    return undefined;
  }
}

function preview(buf: Buffer): string {
  const text = asText(buf);
  return text === undefined ? sizeAndHash(buf) : truncate(text);
}

export function truncate(s: string, max = MAX_VALUE_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length} chars)`;
}

/** The verify report: one block per request that differs, then a summary line. */
export function renderDifferences(results: Array<{ request: RecordedRequest; differences: Difference[] }>): string {
  const lines: string[] = [];
  const differing = results.filter((r) => r.differences.length > 0);
  for (const { request, differences } of differing) {
    const target = `${request.method} ${request.path}`;
    lines.push(`✗ ${request.name === target ? target : `${request.name} (${target})`}`);
    for (const d of differences) for (const l of d.detail.split('\n')) lines.push(`  ${l}`);
    lines.push('');
  }
  lines.push(differing.length === 0
    ? `all ${results.length} requests match`
    : `${differing.length} of ${results.length} requests differ`);
  return `${lines.join('\n')}\n`;
}
