import type { ContentRange } from '../image/content-range.js';
import { join } from 'node:path';
import { SlimError, usageError, writeFailure } from '../errors.js';
import type { FileRecord } from '../image/file-index.js';
import type { NewLayer } from '../image/image-writer.js';
import { writeLayer, type LayerCompression, type TarEntrySpec } from '../image/layer-writer.js';
import { GROUP_TITLES, type LayerGroup } from '../plan/grouping.js';
import { compareBytes, parentsOf, type PlannedEntry, type PlannedLayer } from '../plan/plan.js';
import { writeEstargzLayer } from '../image/estargz.js';

export function sourceDateEpoch(): number {
  const value = process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return 0;
  // tar's classic mtime field (and tar-stream) ends in January 2038
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n > 2 ** 31 - 1) throw usageError(`SOURCE_DATE_EPOCH=${value} is not a whole number of seconds before 2038`);
  return n;
}

/**
 * The modification time a slim layer gives a path: the fixed epoch, except Python sources, whose `.pyc`
 * caches are validated against the source's mtime, so changing it would make every import recompile.
 */
export function writtenMtime(path: string, record: Pick<FileRecord, 'mtime' | 'type'>, epoch: number): number {
  return record.type !== 'directory' && record.type !== 'symlink' && path.endsWith('.py') ? record.mtime : epoch;
}

/** Where the writer reads a regular file's content from. */
export type ContentSource = (entry: PlannedEntry) => string | ContentRange | undefined;

/** What the writer gets for a planned entry. */
export function entrySpec(entry: PlannedEntry, contentOf: ContentSource, epoch: number): TarEntrySpec {
  const r = entry.record;
  const base = { path: entry.path.slice(1), mode: r.mode, uid: r.uid, gid: r.gid, mtime: writtenMtime(entry.path, r, epoch) };
  if (entry.whiteout) return { path: whiteoutName(entry.path), type: 'whiteout', mode: 0, uid: 0, gid: 0, mtime: epoch };
  if (entry.hardlinkTo) return { ...base, type: 'hardlink', linkTarget: entry.hardlinkTo.slice(1) };
  if (r.type === 'directory') return { ...base, type: 'directory' };
  if (r.type === 'symlink') return { ...base, type: 'symlink', linkTarget: r.linkTarget ?? '' };
  const content = contentOf(entry);
  if (!content) throw new SlimError(`no content was read for ${entry.path}`);
  return typeof content === 'string' ? { ...base, type: 'file', contentFile: content } : { ...base, type: 'file', contentRange: content };
}

/** `/a/b/name` → `a/b/.wh.name`: the OCI whiteout that hides `name` of the layers below. */
export function whiteoutName(path: string): string {
  const slash = path.lastIndexOf('/');
  return `${path.slice(1, slash + 1)}.wh.${path.slice(slash + 1)}`;
}

export interface LayerToWrite {
  /** the history entry's created_by */
  title: string;
  comment: string;
  entries: PlannedEntry[];
  /** eStargz: the first `prefetch` entries are the ones the run reads first (see prefetchOrder) */
  prefetch?: number;
}

/**
 * eStargz order: the entries the run touched, in first-access order (each after its parent
 * directories), then the rest in path order. `firstAt` is when the trace first touched a path.
 */
export function prefetchOrder(entries: PlannedEntry[], firstAt: (path: string) => number | undefined): { entries: PlannedEntry[]; prefetch: number } {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const touched = entries
    .filter((e) => e.record.type !== 'directory' && firstAt(e.path) !== undefined)
    .sort((a, b) => firstAt(a.path)! - firstAt(b.path)! || compareBytes(a.path, b.path));
  const first: PlannedEntry[] = [];
  const placed = new Set<string>();
  for (const entry of touched) {
    // a hardlink must follow its target: touched before it, it waits for the rest
    if (entry.hardlinkTo && !placed.has(entry.hardlinkTo)) continue;
    for (const parent of parentsOf(entry.path)) {
      const dir = byPath.get(parent);
      if (dir && !placed.has(parent)) {
        first.push(dir);
        placed.add(parent);
      }
    }
    first.push(entry);
    placed.add(entry.path);
  }
  return { entries: [...first, ...entries.filter((e) => !placed.has(e.path))], prefetch: first.length };
}

/** How layers are written: the timestamp of what has no other, and the blob's compression. */
export interface WriteSettings {
  epoch: number;
  compression: LayerCompression;
}

/** Writes one planned layer as `<name>.tar` and its compressed blob `<name>.blob` under `dir`. */
export async function writePlannedLayer(layer: LayerToWrite, contentOf: ContentSource, dir: string, name: string, settings: WriteSettings): Promise<NewLayer> {
  const specs = layer.entries.map((e) => entrySpec(e, contentOf, settings.epoch));
  const tarPath = join(dir, `${name}.tar`);
  const blobPath = join(dir, `${name}.blob`);
  const writing =
    settings.compression === 'estargz'
      ? writeEstargzLayer(specs, layer.prefetch ?? 0, tarPath, blobPath, settings.epoch)
      : writeLayer(specs, tarPath, blobPath, settings.compression);
  const written = await writing.catch((err: unknown) => {
    throw writeFailure(err, `the ${layer.title} layer in ${dir}`);
  });
  return { written, createdBy: layer.title, comment: layer.comment };
}

/** The history title of a single image's group layer. */
export function groupLayerTitle(layer: Pick<PlannedLayer, 'group'>): string {
  return `slim build: ${GROUP_TITLES[layer.group as LayerGroup]}`;
}

/**
 * The trace's read order as files other lazy-pulling tools take: JSON lines `{"path","layerIndex"}` as
 * `nerdctl image convert --estargz-record-in` reads them, and a plain list of absolute paths (Nydus,
 * SOCI). Regular files the run touched, in first-access order across the layers.
 */
export function prefetchRecords(layers: Array<{ entries: PlannedEntry[] }>, firstAt: (path: string) => number | undefined): { jsonLines: string; list: string } {
  const touched = layers
    .flatMap((layer, layerIndex) => layer.entries.filter((e) => e.record.type !== 'directory' && !e.whiteout && firstAt(e.path) !== undefined).map((e) => ({ path: e.path, layerIndex, at: firstAt(e.path)! })))
    .sort((a, b) => a.at - b.at || compareBytes(a.path, b.path));
  return {
    jsonLines: touched.map((t) => `${JSON.stringify({ path: t.path.slice(1), layerIndex: t.layerIndex })}\n`).join(''),
    list: touched.map((t) => `${t.path}\n`).join(''),
  };
}
