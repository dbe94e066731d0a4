import type { ElfKind } from './elf.js';
import type { EntryType, LayerEntry, LayerListing } from './layer-listing.js';

export type FileType = Exclude<EntryType, 'whiteout' | 'opaque'>;

/** A path as the merged filesystem shows it, and the layer its current copy comes from. */
export interface FileRecord {
  path: string;
  type: FileType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  layer: number;
  linkTarget?: string;
  elf?: ElfKind;
  /** a directory no layer has an entry for, only implied by paths below it */
  implicit?: boolean;
}

/** A copy of a path that a later layer replaced or deleted: the bytes it wastes. */
export interface ShadowedCopy {
  path: string;
  type: FileType;
  size: number;
  layer: number;
  reason: 'overwritten' | 'deleted';
  byLayer: number;
}

interface Node {
  record: FileRecord;
  children?: Map<string, Node>;
}

function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

function splitPath(path: string): string[] {
  return path === '' ? [] : path.split('/');
}

function implicitDirectory(path: string, layer: number): Node {
  return {
    record: { path, type: 'directory', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: 0, layer, implicit: true },
    children: new Map(),
  };
}

/**
 * The merged filesystem view of an image's layers, with OCI whiteout semantics: `.wh.NAME` deletes
 * NAME from lower layers, `.wh..wh..opq` hides every lower-layer child of its directory. Every copy
 * that a later layer overwrote or deleted is kept in `shadowed`.
 */
export class FileIndex {
  private readonly root: Node = implicitDirectory('', 0);
  readonly shadowed: ShadowedCopy[] = [];
  /** per layer, the size of what each whiteout deleted, measured the way dive does (directories only) */
  readonly whiteoutSizes: Map<string, number>[] = [];

  static build(listings: LayerListing[]): FileIndex {
    const index = new FileIndex();
    for (const listing of [...listings].sort((a, b) => a.index - b.index)) index.apply(listing);
    return index;
  }

  /** Applies one layer on top of the current view. */
  apply(listing: LayerListing): void {
    const layer = listing.index;
    const whiteoutSizes = new Map<string, number>();
    this.whiteoutSizes[layer] = whiteoutSizes;
    // Deletions in a layer act on the layers below it only, so they go first.
    for (const entry of listing.entries) {
      if (entry.type === 'opaque') {
        const dir = this.node(entry.path);
        if (dir?.children) {
          for (const child of dir.children.values()) this.shadowSubtree(child, 'deleted', layer);
          dir.children.clear();
        }
      } else if (entry.type === 'whiteout') {
        const target = this.node(entry.path);
        if (!target) continue;
        whiteoutSizes.set(entry.path, target.children ? subtreeSize(target) : 0);
        this.shadowSubtree(target, 'deleted', layer);
        this.parentOf(entry.path)?.children?.delete(baseName(entry.path));
      }
    }
    for (const entry of listing.entries) {
      if (entry.type !== 'opaque' && entry.type !== 'whiteout') this.add(entry, layer);
    }
  }

  private add(entry: LayerEntry, layer: number): void {
    const parts = splitPath(entry.path);
    let dir = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i]!;
      let next = dir.children!.get(name);
      if (!next || !next.children) {
        if (next) this.shadowSubtree(next, 'overwritten', layer);
        next = implicitDirectory(joinPath(dir.record.path, name), layer);
        dir.children!.set(name, next);
      }
      dir = next;
    }
    const name = parts[parts.length - 1]!;
    const record: FileRecord = {
      path: entry.path,
      type: entry.type as FileType,
      size: entry.size,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      layer,
    };
    if (entry.linkTarget !== undefined) record.linkTarget = entry.linkTarget;
    if (entry.elf !== undefined) record.elf = entry.elf;
    const existing = dir.children!.get(name);
    if (existing && existing.children && record.type === 'directory') {
      // a directory entry over a directory changes its metadata and keeps the children
      existing.record = record;
      return;
    }
    if (existing) this.shadowSubtree(existing, 'overwritten', layer);
    dir.children!.set(name, record.type === 'directory' ? { record, children: new Map() } : { record });
  }

  private shadowSubtree(node: Node, reason: ShadowedCopy['reason'], byLayer: number): void {
    for (const n of walkNodes(node)) {
      if (n.record.implicit) continue;
      const { path, type, size, layer } = n.record;
      this.shadowed.push({ path, type, size, layer, reason, byLayer });
    }
  }

  private node(path: string): Node | undefined {
    let current: Node | undefined = this.root;
    for (const part of splitPath(path)) {
      current = current?.children?.get(part);
      if (!current) return undefined;
    }
    return current;
  }

  private parentOf(path: string): Node | undefined {
    const slash = path.lastIndexOf('/');
    return this.node(slash === -1 ? '' : path.slice(0, slash));
  }

  /** The record at a path, without following symlinks. */
  get(path: string): FileRecord | undefined {
    return this.node(path.replace(/^\/+|\/+$/g, ''))?.record;
  }

  /** Names of a directory's children, sorted. */
  list(path: string): string[] {
    const node = this.node(path.replace(/^\/+|\/+$/g, ''));
    return node?.children ? [...node.children.keys()].sort() : [];
  }

  /** Every path in the merged view (not the root), depth first, in sorted order. */
  *records(): Generator<FileRecord> {
    for (const node of walkNodes(this.root, true)) {
      if (node !== this.root) yield node.record;
    }
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function* walkNodes(node: Node, sorted = false): Generator<Node> {
  yield node;
  if (!node.children) return;
  const children = sorted ? [...node.children.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : [...node.children];
  for (const [, child] of children) yield* walkNodes(child, sorted);
}

function subtreeSize(node: Node): number {
  let total = 0;
  for (const n of walkNodes(node)) total += n.record.size;
  return total;
}
