import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { inputError, SlimError } from '../errors.js';
import { isDigest } from '../image/digest.js';
import { JsonChecker } from '../json-checker.js';
import { parseIdentityKey } from '../plan/fleet-identity.js';
import type { FleetPlan, PinnedLayer, PinnedState } from '../plan/fleet-plan.js';
import type { WriteSettings } from '../build/layer-contents.js';
import { LAYER_COMPRESSIONS, type LayerCompression } from '../image/layer-writer.js';
import type { WrittenSharedLayer } from './fleet-layers.js';
import { compareBytes } from '../plan/plan.js';

/** A shared layer as published: what the planner pins, and the digests a rebuild must reproduce. */
export interface StateLayer extends PinnedLayer {
  diffId: string;
  digest: string;
  /** bytes of the gzip blob */
  size: number;
}

export interface FleetState {
  /** the SOURCE_DATE_EPOCH the layers were written with: their timestamps are part of their digests */
  sourceDateEpoch: number;
  /** how the pinned layers' blobs are compressed */
  compression: LayerCompression;
  layers: StateLayer[];
  functions: Map<string, string[]>;
}

const HINT = 'the state no longer matches: rebuild with --repack to plan the shared layers again (every image then gets new shared layers)';

export function pinnedState(state: FleetState): PinnedState {
  return { layers: state.layers, functions: state.functions };
}

/** Reads a state file written by `slim fleet build --state`; undefined when the file does not exist yet. */
export async function readFleetState(file: string): Promise<FleetState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw inputError(`cannot read state file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file} is not valid JSON: ${(err as Error).message}`, HINT);
  }
  return parseFleetState(json, file);
}

export function parseFleetState(json: unknown, file: string): FleetState {
  const c: JsonChecker = new JsonChecker(file, HINT);
  const root = c.object(json, 'the state file');
  c.only(root, '', ['version', 'sourceDateEpoch', 'compression', 'layers', 'functions']);
  if (root.version !== 1) c.fail('version', 'must be 1');
  const sourceDateEpoch = c.int(root.sourceDateEpoch, 'sourceDateEpoch', 0, 2 ** 31 - 1);
  const compression = (c.optionalString(root.compression, 'compression') ?? 'gzip') as LayerCompression;
  if (!LAYER_COMPRESSIONS.includes(compression)) c.fail('compression', `must be one of ${LAYER_COMPRESSIONS.join(', ')}`);
  if (!Array.isArray(root.layers)) c.fail('layers', 'must be an array');
  const layers: StateLayer[] = [];
  const ids = new Set<string>();
  for (const [i, value] of (root.layers as unknown[]).entries()) {
    const field = `layers[${i}]`;
    const l = c.object(value, field);
    c.only(l, field, ['id', 'parent', 'members', 'delta', 'diffId', 'digest', 'size', 'entries']);
    const id = c.string(l.id, `${field}.id`);
    if (!/^(shared|delta)-\d+$/.test(id)) c.fail(`${field}.id`, 'must be shared-N or delta-N');
    if (ids.has(id)) c.fail(`${field}.id`, `${id} is listed twice`);
    const parent = l.parent === null ? null : c.string(l.parent, `${field}.parent`);
    if (parent !== null && !ids.has(parent)) c.fail(`${field}.parent`, `${parent} is not a layer listed before it`);
    ids.add(id);
    const members = c.strings(l.members, `${field}.members`);
    if (typeof l.delta !== 'boolean') c.fail(`${field}.delta`, 'must be true or false');
    for (const key of ['diffId', 'digest'] as const) if (!isDigest(l[key])) c.fail(`${field}.${key}`, 'must be a sha256:… digest');
    const size = c.int(l.size, `${field}.size`, 0, Number.MAX_SAFE_INTEGER);
    if (!Array.isArray(l.entries) || l.entries.length === 0) c.fail(`${field}.entries`, 'must be a non-empty array');
    const entries: Array<{ path: string; key: string }> = [];
    for (const [j, pair] of (l.entries as unknown[]).entries()) {
      const at = `${field}.entries[${j}]`;
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') c.fail(at, 'must be [PATH, KEY]');
      const [path, key] = pair as [string, string];
      if (!path.startsWith('/') || path === '/' || path.endsWith('/') || path.split('/').some((p, k) => k > 0 && (p === '' || p === '.' || p === '..'))) c.fail(at, `has a path that is not absolute and clean: ${JSON.stringify(path)}`);
      if (!parseIdentityKey(key)) c.fail(at, `has a key that is not a file, symlink or directory identity: ${JSON.stringify(key)}`);
      const previous = entries.at(-1);
      if (previous && compareBytes(previous.path, path) >= 0) c.fail(at, 'is out of order: entries are sorted by path and listed once');
      entries.push({ path, key });
    }
    layers.push({ id, parent, members, delta: l.delta, diffId: l.diffId as string, digest: l.digest as string, size, entries });
  }
  const fns = c.object(root.functions, 'functions');
  const functions = new Map<string, string[]>();
  const byId = new Map(layers.map((l) => [l.id, l]));
  for (const [name, value] of Object.entries(fns)) {
    const field = `functions.${JSON.stringify(name)}`;
    const chain = c.strings(value, field);
    chain.forEach((id, k) => {
      const layer = byId.get(id);
      if (!layer) c.fail(field, `names ${id}, which is not in layers`);
      const below = k === 0 ? null : chain[k - 1];
      if (layer.parent !== below) c.fail(field, `lists ${id} on ${below ?? 'nothing'}, but it stands on ${layer.parent ?? 'nothing'}`);
    });
    functions.set(name, chain);
  }
  return { sourceDateEpoch, compression, layers, functions };
}

/**
 * The state as JSON a reviewer can read in a diff: one entry per line (`[PATH, KEY]`, the key as
 * `TYPE:MODE:UID:GID:MTIME[:SIZE:SHA256 | :"TARGET"]`), layers in order, functions by name.
 */
export function renderFleetState(state: FleetState): string {
  const out = ['{', '  "version": 1,', `  "sourceDateEpoch": ${state.sourceDateEpoch},`, `  "compression": ${JSON.stringify(state.compression)},`, '  "layers": ['];
  state.layers.forEach((l, i) => {
    out.push('    {');
    for (const key of ['id', 'parent', 'members', 'delta', 'diffId', 'digest', 'size'] as const) out.push(`      ${JSON.stringify(key)}: ${JSON.stringify(l[key])},`);
    out.push('      "entries": [');
    l.entries.forEach((e, j) => out.push(`        ${JSON.stringify([e.path, e.key])}${j < l.entries.length - 1 ? ',' : ''}`));
    out.push('      ]', `    }${i < state.layers.length - 1 ? ',' : ''}`);
  });
  out.push('  ],', '  "functions": {');
  const names = [...state.functions.keys()].sort();
  names.forEach((name, i) => out.push(`    ${JSON.stringify(name)}: ${JSON.stringify(state.functions.get(name))}${i < names.length - 1 ? ',' : ''}`));
  out.push('  }', '}', '');
  return out.join('\n');
}

/** Writes the state next to its final name first, so a failed write never leaves half a lockfile. */
export async function writeFleetState(file: string, state: FleetState): Promise<void> {
  const temporary = `${file}.slim-tmp-${process.pid}`;
  try {
    await writeFile(temporary, renderFleetState(state));
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    throw new SlimError(`cannot write the state file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** The state after this build: the layers published so far (pinned ones as they were), and every function's chain. */
export function nextState(plan: FleetPlan, shared: Map<string, WrittenSharedLayer>, previous: FleetState | undefined, settings: WriteSettings): FleetState {
  const old = new Map((previous?.layers ?? []).map((l) => [l.id, l]));
  const layers = plan.layers.flatMap((l) => {
    const written = shared.get(l.id);
    const pinned = old.get(l.id);
    if (pinned) return [pinned];
    if (!written) return [];
    return [{ id: l.id, parent: l.parent, members: l.members, delta: l.delta, entries: l.entries, diffId: written.layer.written.tar.digest, digest: written.layer.written.blob.digest, size: written.layer.written.blob.size }];
  });
  const functions = new Map(previous?.functions ?? []);
  for (const f of plan.functions) functions.set(f.name, f.layers);
  return { sourceDateEpoch: settings.epoch, compression: settings.compression, layers, functions };
}
