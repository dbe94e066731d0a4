import { readFile } from 'node:fs/promises';
import { readDpkgOwnership } from '../analyze/dpkg.js';
import { inputError } from '../errors.js';
import { sha256File } from '../image/digest.js';
import type { FileIndex, FileRecord } from '../image/file-index.js';
import type { PreparedImage } from '../image/prepare.js';
import type { IndexImageFs } from '../image/rootfs.js';
import { identityKey, type FileIdentity } from '../plan/fleet-identity.js';
import type { FleetFunctionInput } from '../plan/fleet-plan.js';
import { groupKeptPaths, type PlannedEntry } from '../plan/plan.js';
import type { Recording } from '../recording/types.js';
import { traceImage, type TraceOptions } from '../trace/trace-image.js';
import { writtenMtime } from '../build/layer-contents.js';
import type { ContentStore } from './content-store.js';
import type { FleetFunctionSpec } from './fleet-file.js';
import type { ReplayedRequest } from '../recording/replay.js';

/** What a function needs kept, from a traced run or from a profile its own CI job wrote. */
export interface KeepDecision {
  keep: string[];
  owners: Map<string, string>;
  tracedBytes: number;
  warnings: string[];
  /** the original's answers in the traced run, which verification compares the slim image with (none from a profile) */
  originalAnswers?: ReplayedRequest[];
}

/** Everything the fleet planner and writer need from one function once its image is closed. */
export interface FunctionFacts {
  spec: FleetFunctionSpec;
  originalId: string;
  rawConfig: Buffer;
  recording: Recording;
  /** the kept paths, each with its group, closed over symlinks and hardlinks, as `slim build` plans them */
  entries: Map<string, PlannedEntry>;
  /** content digest of every kept file (a hardlink's is its target's), for the content store */
  contents: Map<string, string>;
  /** directories of the original (for the parent entries of its own layers) */
  index: Pick<FileIndex, 'get'>;
  input: FleetFunctionInput;
  tracedBytes: number;
  visibleBytes: number;
  warnings: string[];
  /** how the keep set was found */
  source: 'trace' | 'profile';
  originalAnswers?: ReplayedRequest[];
}

export async function keepFromTrace(prepared: PreparedImage, recording: Recording, options: TraceOptions): Promise<KeepDecision> {
  const traced = await traceImage(prepared.image, prepared.index, prepared.fs!, recording, options);
  return { keep: traced.closure.keep.paths(), owners: traced.owners, tracedBytes: traced.usage.tracedBytes, warnings: traced.closure.warnings, originalAnswers: traced.run.replayed };
}

/** The keep set a `slim build --profile-out` profile lists; refused when it was written for another image. */
export async function keepFromProfile(prepared: PreparedImage, file: string): Promise<KeepDecision> {
  let profile: { schemaVersion?: unknown; image?: { id?: unknown; reference?: unknown }; kept?: Array<{ path?: unknown }>; tracedBytes?: unknown };
  try {
    profile = JSON.parse(await readFile(file, 'utf8')) as typeof profile;
  } catch (err) {
    throw inputError(`cannot read profile ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (profile?.schemaVersion !== 1 || !Array.isArray(profile.kept) || typeof profile.image?.id !== 'string') {
    throw inputError(`${file} is not a profile written by slim build --profile-out`);
  }
  if (profile.image.id !== prepared.image.id) {
    throw inputError(
      `profile ${file} was written for image ${profile.image.id}, but ${prepared.image.reference} is now ${prepared.image.id}`,
      'trace the function again in its own CI job (slim build --profile-out) and hand the fresh profile to the fleet build',
    );
  }
  const keep = profile.kept.map((k) => k.path).filter((p): p is string => typeof p === 'string' && p.startsWith('/'));
  return { keep, owners: await readDpkgOwnership(prepared.fs!), tracedBytes: typeof profile.tracedBytes === 'number' ? profile.tracedBytes : 0, warnings: [] };
}

/** How a record is written in a slim layer; hardlinks and devices have no identity (they are never shared). */
function writtenIdentity(path: string, record: FileRecord, sha256: string | undefined, epoch: number): FileIdentity | undefined {
  const base = { mode: record.mode & 0o7777, uid: record.uid, gid: record.gid, mtime: writtenMtime(path, record, epoch) };
  if (record.type === 'directory') return { type: 'directory', size: 0, ...base };
  if (record.type === 'symlink') return { type: 'symlink', size: 0, linkTarget: record.linkTarget ?? '', ...base };
  if (record.type === 'file' && sha256) return { type: 'file', size: record.size, sha256, ...base };
  return undefined;
}

/** sha256 of every regular file of the merged view, a few at a time. */
async function hashFiles(index: FileIndex, fs: IndexImageFs): Promise<Map<string, string>> {
  const files = [...index.records()].filter((r) => r.type === 'file');
  const digests = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const record = files[next++]!;
      const content = fs.contentFile(`/${record.path}`);
      if (content) digests.set(`/${record.path}`, await sha256File(content));
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return digests;
}

/**
 * Reads what the fleet plan needs from an open image: its keep set grouped as `slim build` groups it, the
 * identity of every path of its original, and the contents of its kept files (and of any file a pinned
 * layer holds as this image has it) in the content store.
 */
export async function functionFacts(
  spec: FleetFunctionSpec,
  prepared: PreparedImage,
  recording: Recording,
  decision: KeepDecision,
  store: ContentStore,
  pinnedKeys: Map<string, Set<string>>,
  epoch: number,
): Promise<FunctionFacts> {
  const { image, index } = prepared;
  const fs = prepared.fs!;
  const { entries, skipped } = groupKeptPaths(decision.keep, index, fs, {
    owners: decision.owners,
    workingDir: image.config.config?.WorkingDir || '/',
    baseLayers: 1,
    overrides: [],
  });
  const digests = await hashFiles(index, fs);
  const original = new Map<string, string>();
  for (const record of index.records()) {
    const path = `/${record.path}`;
    const identity = writtenIdentity(path, record, digests.get(path), epoch);
    if (!identity) continue;
    const key = identityKey(identity);
    original.set(path, key);
    if (identity.sha256 && pinnedKeys.get(path)?.has(key)) await store.add(identity.sha256, fs.contentFile(path)!);
  }

  const linkedTo = new Set([...entries.values()].flatMap((e) => (e.hardlinkTo ? [e.hardlinkTo] : [])));
  const shareable = new Map<string, string>();
  const contents = new Map<string, string>();
  let visibleBytes = 0;
  for (const entry of entries.values()) {
    const r = entry.record;
    if (r.type === 'file' || r.type === 'hardlink') {
      const content = fs.contentFile(entry.path);
      const sha256 = digests.get(entry.path) ?? (content ? await sha256File(content) : undefined);
      if (content && sha256) {
        await store.add(sha256, content);
        contents.set(entry.path, sha256);
      }
    }
    if (entry.group === 'app' || entry.hardlinkTo || entry.contentFrom || linkedTo.has(entry.path)) continue;
    if (r.type !== 'file' && r.type !== 'symlink') continue;
    const key = original.get(entry.path);
    if (key) shareable.set(entry.path, key);
  }
  for (const record of index.records()) if (record.type === 'file') visibleBytes += record.size;
  return {
    spec,
    originalId: image.id,
    rawConfig: image.rawConfig,
    recording,
    entries,
    contents,
    index,
    input: { name: spec.name, shareable, kept: new Set(entries.keys()), original },
    tracedBytes: decision.tracedBytes,
    visibleBytes,
    warnings: [...decision.warnings, ...skipped.map((s) => `not written: ${s}`)],
    source: spec.profile ? 'profile' : 'trace',
    originalAnswers: decision.originalAnswers,
  };
}
