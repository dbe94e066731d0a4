import { sha256Range, type ContentRange } from '../image/content-range.js';
import type { FileIndex } from '../image/file-index.js';
import type { UsageSummary } from '../analyze/usage.js';
import type { ColdStartTimeline, ImageTrace } from './trace-image.js';

/** The traced part of `slim analyze --record` (the `trace` key of its JSON). */
export interface TraceSummary extends Omit<UsageSummary, 'keptPackages'> {
  recording: string;
  command: string[];
  requests: Array<{ name: string; method: string; path: string; status: number; ms: number }>;
  timeline: ColdStartTimeline;
  /** bytes of the files the slim image would hold (kept files), before layering */
  estimatedSlimBytes: number;
  keptPackages: UsageSummary['keptPackages'];
  missingLibraries: Array<{ name: string; from: string }>;
  warnings: string[];
  /** kept paths per reason */
  reasons: Record<string, number>;
  failedPaths: number;
  syscalls: Record<string, number>;
}

export function summarizeTrace(trace: ImageTrace, recordingFile: string, top = 10): TraceSummary {
  const reasons: Record<string, number> = {};
  for (const entry of trace.closure.keep.list()) for (const r of entry.reasons) reasons[r] = (reasons[r] ?? 0) + 1;
  const { keptPackages, ...usage } = trace.usage;
  return {
    recording: recordingFile,
    command: trace.run.argv,
    requests: trace.run.replayed.map((r) => ({
      name: r.request.name,
      method: r.request.method,
      path: r.request.path,
      status: r.response.status,
      ms: Math.round(r.response.elapsedMs * 10) / 10,
    })),
    timeline: trace.timeline,
    ...usage,
    estimatedSlimBytes: usage.keptBytes,
    keptPackages: keptPackages.slice(0, top),
    missingLibraries: trace.closure.missingLibraries,
    warnings: trace.closure.warnings,
    reasons: Object.fromEntries(Object.entries(reasons).sort(([a], [b]) => (a < b ? -1 : 1))),
    failedPaths: trace.profile.failures.size,
    syscalls: Object.fromEntries(Object.entries(trace.profile.syscalls).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))),
  };
}

/** How a kept path is written: what a central `slim fleet build` plans with when it gets the profile instead of tracing. */
export interface KeptFileFacts {
  type: string | null;
  bytes: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** content digest of a regular file (or a hardlink's content) */
  sha256?: string;
  linkTarget?: string;
}

async function keptFileFacts(path: string, index: FileIndex, contentOf: (path: string) => ContentRange | undefined): Promise<KeptFileFacts> {
  const record = index.get(path);
  if (!record) return { type: null, bytes: 0 };
  const facts: KeptFileFacts = { type: record.type, bytes: record.type === 'file' ? record.size : 0, mode: record.mode, uid: record.uid, gid: record.gid };
  const content = record.type === 'file' || record.type === 'hardlink' ? contentOf(path) : undefined;
  if (content) facts.sha256 = await sha256Range(content).catch(() => undefined);
  if (record.linkTarget !== undefined) facts.linkTarget = record.linkTarget;
  return facts;
}

/**
 * The audit log written by --profile-out: every kept path with why and how it is written (type, mode,
 * owner, content digest), what the run failed to find, and the source image's ID, so a central fleet
 * build can plan from it and refuse it when the image changed.
 */
export async function profileDocument(
  trace: ImageTrace,
  index: FileIndex,
  contentOf: (path: string) => ContentRange | undefined,
  image: { reference: string; id: string },
  recordingFile: string,
) {
  const kept = [];
  for (const entry of trace.closure.keep.list()) kept.push({ ...entry, ...(await keptFileFacts(entry.path, index, contentOf)) });
  return {
    schemaVersion: 1,
    image,
    recording: recordingFile,
    command: trace.run.argv,
    timeline: trace.timeline,
    tracedBytes: trace.usage.tracedBytes,
    kept,
    failures: [...trace.profile.failures.values()].sort((a, b) => (a.path < b.path ? -1 : 1)),
    missingLibraries: trace.closure.missingLibraries,
    syscalls: trace.profile.syscalls,
    processes: [...trace.profile.processes.values()].map((p) => ({ ...p })),
  };
}
