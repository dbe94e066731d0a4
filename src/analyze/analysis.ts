import type { Timings } from '../timings.js';
import { FileIndex, type FileRecord } from '../image/file-index.js';
import type { LayerListing } from '../image/layer-listing.js';
import type { Image } from '../image/types.js';
import { diveEfficiency } from './efficiency.js';
import { KINDS, kindOf, type Kind } from './kinds.js';
import type { TraceSummary } from '../trace/trace-summary.js';

/** The stable, machine-readable result of `slim analyze` (the `--json` output). */
export interface ImageAnalysis {
  schemaVersion: 1;
  image: {
    reference: string;
    source: string;
    id: string;
    repoTags: string[];
    os: string | null;
    architecture: string | null;
    created: string | null;
    entrypoint: string[] | null;
    cmd: string[] | null;
    workingDir: string | null;
    user: string | null;
    exposedPorts: string[];
  };
  /** sum of every layer's content (file sizes in the layer tars, including copies later replaced) */
  totalBytes: number;
  /** sum of the layer blobs as the source stores them */
  storedBytes: number;
  /** files visible in the merged filesystem */
  visibleBytes: number;
  fileCount: number;
  wastedBytes: number;
  userWastedPercent: number;
  efficiency: number;
  layers: Array<{
    index: number;
    diffId: string;
    digest: string | null;
    mediaType: string;
    storedBytes: number;
    bytes: number;
    tarBytes: number;
    fileCount: number;
    createdBy: string | null;
  }>;
  largest: {
    files: Array<{ path: string; bytes: number; layer: number }>;
    directories: Array<{ path: string; bytes: number; fileCount: number }>;
  };
  kinds: Array<{ kind: Kind; bytes: number; fileCount: number }>;
  wasted: Array<{ path: string; bytes: number; copies: number }>;
  problems: string[];
  /** what a traced run of the function used (`--record`); null for a static analysis */
  trace: TraceSummary | null;
  /** each phase's wall time */
  timings: Timings;
}

export interface AnalysisOptions {
  top: number;
  /** deepest directory level listed among the largest directories */
  depth: number;
}

export const DEFAULT_ANALYSIS_OPTIONS: AnalysisOptions = { top: 10, depth: 3 };

function countsAsFile(record: FileRecord): boolean {
  return record.type !== 'directory';
}

/** Pure analysis over an image's layer listings: no I/O, so it is tested on synthetic layers. */
export function analyzeListings(image: Image, listings: LayerListing[], options: AnalysisOptions = DEFAULT_ANALYSIS_OPTIONS): Omit<ImageAnalysis, 'timings'> {
  const ordered = [...listings].sort((a, b) => a.index - b.index);
  const index = FileIndex.build(ordered);
  const efficiency = diveEfficiency(ordered, index.whiteoutSizes);

  const kindTotals = new Map<Kind, { bytes: number; fileCount: number }>(KINDS.map((k) => [k, { bytes: 0, fileCount: 0 }]));
  const dirTotals = new Map<string, { bytes: number; fileCount: number }>();
  const files: Array<{ path: string; bytes: number; layer: number }> = [];
  let visibleBytes = 0;
  let fileCount = 0;
  for (const record of index.records()) {
    if (!countsAsFile(record)) continue;
    fileCount += 1;
    const bytes = record.type === 'file' ? record.size : 0;
    visibleBytes += bytes;
    const kind = kindTotals.get(kindOf(record))!;
    kind.bytes += bytes;
    kind.fileCount += 1;
    if (record.type === 'file') files.push({ path: `/${record.path}`, bytes, layer: record.layer });
    const parts = record.path.split('/');
    for (let depth = 1; depth < parts.length && depth <= options.depth; depth++) {
      const dir = `/${parts.slice(0, depth).join('/')}`;
      const total = dirTotals.get(dir) ?? { bytes: 0, fileCount: 0 };
      total.bytes += bytes;
      total.fileCount += 1;
      dirTotals.set(dir, total);
    }
  }
  const byBytesThenPath = <T extends { path: string; bytes: number }>(a: T, b: T) => b.bytes - a.bytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

  const config = image.config.config ?? {};
  return {
    schemaVersion: 1,
    image: {
      reference: image.reference,
      source: image.source,
      id: image.id,
      repoTags: image.repoTags,
      os: image.config.os ?? null,
      architecture: image.config.architecture ?? null,
      created: image.config.created ?? null,
      entrypoint: config.Entrypoint ?? null,
      cmd: config.Cmd ?? null,
      workingDir: config.WorkingDir || null,
      user: config.User || null,
      exposedPorts: Object.keys(config.ExposedPorts ?? {}).sort(),
    },
    totalBytes: efficiency.sizeBytes,
    storedBytes: image.layers.reduce((sum, layer) => sum + layer.storedSize, 0),
    visibleBytes,
    fileCount,
    wastedBytes: efficiency.wastedBytes,
    userWastedPercent: efficiency.userWastedPercent,
    efficiency: efficiency.efficiency,
    layers: image.layers.map((layer) => {
      const listing = ordered.find((l) => l.index === layer.index);
      return {
        index: layer.index,
        diffId: layer.diffId,
        digest: layer.digest ?? null,
        mediaType: layer.mediaType,
        storedBytes: layer.storedSize,
        bytes: listing?.bytes ?? 0,
        tarBytes: listing?.tarBytes ?? 0,
        fileCount: listing?.entries.filter((e) => e.type !== 'directory').length ?? 0,
        createdBy: layer.createdBy ?? null,
      };
    }),
    largest: {
      files: files.sort(byBytesThenPath).slice(0, options.top),
      directories: [...dirTotals.entries()]
        .map(([path, total]) => ({ path, ...total }))
        .sort(byBytesThenPath)
        .slice(0, options.top),
    },
    kinds: KINDS.map((kind) => ({ kind, ...kindTotals.get(kind)! })),
    wasted: efficiency.inefficiencies.slice(0, options.top).map((i) => ({ path: `/${i.path}`, bytes: i.bytes, copies: i.copies })),
    problems: ordered.flatMap((l) => l.problems.map((p) => `layer ${l.index}: ${p}`)),
    trace: null,
  };
}
