import type { FileIndex, FileRecord } from '../image/file-index.js';
import type { ImageFs } from '../image/image-fs.js';
import { grouper, LAYER_GROUPS, type GroupingOptions, type LayerGroup } from './grouping.js';

/** One entry of a slim layer. Paths are absolute. */
export interface PlannedEntry {
  path: string;
  record: FileRecord;
  /** written as a hardlink to this path (in the same layer) */
  hardlinkTo?: string;
  /** written as a regular file although the original is a hardlink whose target is not kept */
  contentFrom?: string;
  group: LayerGroup;
  rule: string;
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
  /** every kept path with its group and rule (directories added as parents included) */
  entries: Map<string, PlannedEntry>;
  skipped: string[];
}

const WRITABLE_TYPES = new Set(['file', 'directory', 'symlink', 'hardlink']);

function parentsOf(path: string): string[] {
  const result: string[] = [];
  for (let i = path.indexOf('/', 1); i !== -1; i = path.indexOf('/', i + 1)) result.push(path.slice(0, i));
  return result;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Turns kept paths into layers: the keep set closed over symlink targets and hardlink groups, every
 * parent directory with its original mode and owner, each path sorted into system → deps → app. A
 * hardlink stays a hardlink when its target is kept (both in the target's layer), and becomes a regular
 * file otherwise. Empty groups make no layer.
 */
export function planLayers(keptPaths: Iterable<string>, index: FileIndex, fs: ImageFs, grouping: GroupingOptions): Plan {
  const decide = grouper(grouping);
  const kept = new Set<string>();
  const skipped: string[] = [];
  const queue = [...keptPaths];
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (kept.has(path)) continue;
    const record = index.get(path);
    if (!record) continue;
    if (!WRITABLE_TYPES.has(record.type)) {
      skipped.push(`${path} (${record.type})`);
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
  for (const entry of entries.values()) {
    if (entry.record.type !== 'hardlink' || entry.record.linkTarget === undefined) continue;
    const target = `/${entry.record.linkTarget}`;
    const targetEntry = entries.get(target);
    if (targetEntry && targetEntry.record.type === 'file') {
      entry.hardlinkTo = target;
      entry.group = targetEntry.group;
      entry.rule = `hardlink to ${target}`;
    } else {
      entry.contentFrom = target;
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
    const files = sorted.filter((e) => e.record.type !== 'directory');
    layers.push({
      group,
      entries: sorted,
      files: files.length,
      bytes: files.reduce((sum, e) => sum + (e.hardlinkTo ? 0 : e.contentFrom ? (index.get(e.contentFrom)?.size ?? 0) : e.record.type === 'file' ? e.record.size : 0), 0),
    });
  }
  return { layers, entries, skipped };
}
