import type { FileIndex, FileRecord } from '../image/file-index.js';
import type { ImageFs } from '../image/image-fs.js';
import { grouper, LAYER_GROUPS, type GroupingOptions, type LayerGroup } from './grouping.js';

/** One entry of a slim layer. Paths are absolute. */
export interface PlannedEntry {
  path: string;
  record: FileRecord;
  /** written as a hardlink to this path (in the same layer) */
  hardlinkTo?: string;
  /** written as a regular file although the original is a hardlink whose target is not kept (or was replaced) */
  contentFrom?: string;
  group: LayerGroup;
  rule: string;
  /** written as an OCI whiteout that hides this path of the layers below (fleet images over drifted pinned layers) */
  whiteout?: true;
}

export interface PlannedLayer {
  group: LayerGroup;
  /** sorted by path bytes; parent directories included */
  entries: PlannedEntry[];
  /** non-directory entries and their bytes */
  files: number;
  bytes: number;
}

export interface Plan {
  layers: PlannedLayer[];
  /** every kept path with its group and rule (the parent directories each layer adds are not listed) */
  entries: Map<string, PlannedEntry>;
  skipped: string[];
}

const WRITABLE_TYPES = new Set(['file', 'directory', 'symlink', 'hardlink']);

export function parentsOf(path: string): string[] {
  const result: string[] = [];
  for (let i = path.indexOf('/', 1); i !== -1; i = path.indexOf('/', i + 1)) result.push(path.slice(0, i));
  return result;
}

/** Bytes an entry writes: a hardlink entry's own record has size 0, its content is its target's. */
function contentBytes(entry: PlannedEntry, index: Pick<FileIndex, 'get'>): number {
  if (entry.hardlinkTo) return 0;
  if (entry.record.type === 'file') return entry.record.size;
  if (entry.record.type === 'hardlink' && entry.record.linkTarget !== undefined) return index.get(entry.record.linkTarget)?.size ?? 0;
  return 0;
}

export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Turns kept paths into layers: the keep set closed over symlink targets and hardlink groups, every
 * parent directory with its original mode and owner, each path sorted into system → deps → app. A
 * hardlink stays a hardlink when its target is kept (both in the target's layer), and becomes a regular
 * file otherwise. Empty groups make no layer, and a group holding only directories joins the most
 * stable group that has files.
 */
export function planLayers(keptPaths: Iterable<string>, index: FileIndex, fs: ImageFs, grouping: GroupingOptions): Plan {
  const { entries, skipped } = groupKeptPaths(keptPaths, index, fs, grouping);
  return { layers: layersOf(entries.values(), index), entries, skipped };
}

/** The keep set closed over symlinks, each path with its group and rule, hardlink groups kept together. */
export function groupKeptPaths(keptPaths: Iterable<string>, index: FileIndex, fs: ImageFs, grouping: GroupingOptions): { entries: Map<string, PlannedEntry>; skipped: string[] } {
  const decide = grouper(grouping);
  const kept = new Set<string>();
  const skipped = new Set<string>();
  const queue = [...keptPaths];
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (kept.has(path)) continue;
    const record = index.get(path);
    if (!record) continue;
    if (!WRITABLE_TYPES.has(record.type)) {
      skipped.add(`${path} (${record.type})`);
      continue;
    }
    kept.add(path);
    if (record.type === 'symlink') {
      const resolved = fs.resolve(path);
      queue.push(...resolved.links);
      if (resolved.record) queue.push(resolved.path);
    }
  }

  const entries = new Map<string, PlannedEntry>();
  for (const path of kept) {
    const record = index.get(path)!;
    entries.set(path, { path, record, ...decide(path, record) });
  }
  // A hardlink made in the same layer as its target's current copy stays a hardlink; the group shares
  // one layer, and the member first in tar order carries the content (a link must follow its target).
  const hardlinkGroups = new Map<string, PlannedEntry[]>();
  for (const entry of entries.values()) {
    if (entry.record.type !== 'hardlink' || entry.record.linkTarget === undefined) continue;
    const target = `/${entry.record.linkTarget}`;
    const targetEntry = entries.get(target);
    if (targetEntry?.record.type === 'file' && targetEntry.record.layer === entry.record.layer) {
      hardlinkGroups.set(target, [...(hardlinkGroups.get(target) ?? [targetEntry]), entry]);
    } else {
      entry.contentFrom = target;
    }
  }
  for (const [target, members] of hardlinkGroups) {
    const { group } = entries.get(target)!;
    const [primary, ...links] = members.sort((a, b) => compareBytes(a.path, b.path));
    primary!.group = group;
    for (const link of links) {
      link.hardlinkTo = primary!.path;
      link.group = group;
      link.rule = `hardlink to ${primary!.path}`;
    }
  }
  return { entries, skipped: [...skipped].sort() };
}

/**
 * Layers from grouped entries, most stable first, each with the parent directories of its entries (as
 * the index has them) and sorted by path bytes. A group holding only directories (a search-path dir the
 * run looked at) is not worth a layer: its directories join the most stable group that has files.
 */
export function layersOf(grouped: Iterable<PlannedEntry>, index: Pick<FileIndex, 'get'>): PlannedLayer[] {
  const entries = new Map([...grouped].map((e) => [e.path, e]));
  const withFiles = LAYER_GROUPS.filter((g) => [...entries.values()].some((e) => e.group === g && e.record.type !== 'directory'));
  for (const entry of entries.values()) {
    if (withFiles.length > 0 && !withFiles.includes(entry.group)) {
      entry.rule = `${entry.rule}; directories only, moved to the ${withFiles[0]} layer`;
      entry.group = withFiles[0]!;
    }
  }

  const layers: PlannedLayer[] = [];
  for (const group of LAYER_GROUPS) {
    const members = [...entries.values()].filter((e) => e.group === group);
    if (members.length === 0) continue;
    const inLayer = new Map(members.map((e) => [e.path, e]));
    for (const member of members) {
      for (const parent of parentsOf(member.path)) {
        if (inLayer.has(parent)) continue;
        const record = index.get(parent) ?? { path: parent.slice(1), type: 'directory', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: 0, layer: 0 };
        inLayer.set(parent, entries.get(parent) ?? { path: parent, record, group, rule: 'parent directory' });
      }
    }
    const sorted = [...inLayer.values()].sort((a, b) => compareBytes(a.path, b.path));
    const files = sorted.filter((e) => e.record.type !== 'directory' && !e.whiteout);
    layers.push({
      group,
      entries: sorted,
      files: files.length,
      bytes: files.reduce((sum, e) => sum + contentBytes(e, index), 0),
    });
  }
  return layers;
}
