import type { KeepEntry } from '../closure/keep-set.js';
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

/** The audit log written by --profile-out: every kept path with why, and what the run failed to find. */
export function profileDocument(trace: ImageTrace, index: FileIndex, image: { reference: string; id: string }, recordingFile: string) {
  const bytesOf = (entry: KeepEntry) => {
    const record = index.get(entry.path);
    return record?.type === 'file' ? record.size : 0;
  };
  return {
    schemaVersion: 1,
    image,
    recording: recordingFile,
    command: trace.run.argv,
    timeline: trace.timeline,
    kept: trace.closure.keep.list().map((e) => ({ ...e, bytes: bytesOf(e), type: index.get(e.path)?.type ?? null })),
    failures: [...trace.profile.failures.values()].sort((a, b) => (a.path < b.path ? -1 : 1)),
    missingLibraries: trace.closure.missingLibraries,
    syscalls: trace.profile.syscalls,
    processes: [...trace.profile.processes.values()].map((p) => ({ ...p })),
  };
}
