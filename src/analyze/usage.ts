import type { KeepSet } from '../closure/keep-set.js';
import type { FileIndex } from '../image/file-index.js';

export interface UsageSummary {
  /** regular files and symlinks kept, and their bytes: the estimated content of the slim image */
  keptFiles: number;
  keptBytes: number;
  /** only what the run itself touched: the floor of a file-level slim image */
  tracedFiles: number;
  tracedBytes: number;
  visibleFiles: number;
  visibleBytes: number;
  /** directories holding the most bytes of which nothing is kept */
  removableDirectories: Array<{ path: string; bytes: number; fileCount: number }>;
  /** Debian packages none of whose files is kept, largest first */
  removablePackages: Array<{ name: string; bytes: number; fileCount: number }>;
  /** Debian packages some of whose files are kept */
  keptPackages: Array<{ name: string; keptBytes: number; bytes: number }>;
}

const TRACED = /^traced-/;

/** How much of the image the function uses, and what could go. Pure: works on the index and keep set. */
export function summarizeUsage(index: FileIndex, keep: KeepSet, owners: Map<string, string>, top = 10, depth = 4): UsageSummary {
  let keptFiles = 0;
  let keptBytes = 0;
  let tracedFiles = 0;
  let tracedBytes = 0;
  let visibleFiles = 0;
  let visibleBytes = 0;
  const dirs = new Map<string, { bytes: number; fileCount: number; kept: boolean }>();
  const packages = new Map<string, { bytes: number; keptBytes: number; fileCount: number; kept: boolean }>();
  for (const record of index.records()) {
    if (record.type === 'directory') continue;
    const path = `/${record.path}`;
    const bytes = record.type === 'file' ? record.size : 0;
    const entry = keep.get(path);
    visibleFiles += 1;
    visibleBytes += bytes;
    if (entry) {
      keptFiles += 1;
      keptBytes += bytes;
      if (entry.reasons.some((r) => TRACED.test(r))) {
        tracedFiles += 1;
        tracedBytes += bytes;
      }
    }
    const parts = record.path.split('/');
    for (let d = 1; d < parts.length && d <= depth; d++) {
      const dir = `/${parts.slice(0, d).join('/')}`;
      const total = dirs.get(dir) ?? { bytes: 0, fileCount: 0, kept: false };
      total.bytes += bytes;
      total.fileCount += 1;
      total.kept ||= entry !== undefined;
      dirs.set(dir, total);
    }
    const owner = owners.get(path);
    if (owner) {
      const pkg = packages.get(owner) ?? { bytes: 0, keptBytes: 0, fileCount: 0, kept: false };
      pkg.bytes += bytes;
      pkg.fileCount += 1;
      if (entry) {
        pkg.kept = true;
        pkg.keptBytes += bytes;
      }
      packages.set(owner, pkg);
    }
  }
  // a removable directory is listed only at its top: its removable subdirectories add nothing
  const removable = [...dirs.entries()].filter(([, d]) => !d.kept && d.bytes > 0);
  const removableSet = new Set(removable.map(([p]) => p));
  const topmost = removable.filter(([p]) => !ancestors(p).some((a) => removableSet.has(a)));
  const byBytes = <T extends { bytes: number }>(a: [string, T], b: [string, T]) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1);
  return {
    keptFiles,
    keptBytes,
    tracedFiles,
    tracedBytes,
    visibleFiles,
    visibleBytes,
    removableDirectories: topmost.sort(byBytes).slice(0, top).map(([path, d]) => ({ path, bytes: d.bytes, fileCount: d.fileCount })),
    removablePackages: [...packages.entries()]
      .filter(([, p]) => !p.kept)
      .sort(byBytes)
      .slice(0, top)
      .map(([name, p]) => ({ name, bytes: p.bytes, fileCount: p.fileCount })),
    keptPackages: [...packages.entries()]
      .filter(([, p]) => p.kept)
      .sort((a, b) => b[1].keptBytes - a[1].keptBytes || (a[0] < b[0] ? -1 : 1))
      .map(([name, p]) => ({ name, keptBytes: p.keptBytes, bytes: p.bytes })),
  };
}

function ancestors(path: string): string[] {
  const result: string[] = [];
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) result.push(path.slice(0, i));
  return result;
}
