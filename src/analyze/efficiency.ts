import type { LayerListing } from '../image/layer-listing.js';

export interface Inefficiency {
  path: string;
  /** bytes of every copy of the path across layers, deletions counted at the size they removed */
  bytes: number;
  copies: number;
}

export interface EfficiencyResult {
  /** sum of every layer's content bytes (dive: "total image size") */
  sizeBytes: number;
  /** the same without the base layer (dive: "user size") */
  userSizeBytes: number;
  wastedBytes: number;
  /** wastedBytes / userSizeBytes, 0 when there are no user layers */
  userWastedPercent: number;
  /** minimum bytes needed per path / bytes found per path, 1 when nothing is duplicated */
  efficiency: number;
  inefficiencies: Inefficiency[];
}

/**
 * Image efficiency as dive defines it, so the numbers can be compared with dive's: every path that is
 * a leaf in some layer's tree counts once per layer it appears in; a whiteout counts as a copy whose
 * size is what it deleted (for a directory, the directory's lower contents; for a file, zero).
 * A path seen in two or more layers is an inefficiency and all of its copies' bytes are wasted.
 * Efficiency = Σ smallest copy per path / Σ all copies. Opaque-directory markers are not counted,
 * as in dive.
 */
export function diveEfficiency(listings: LayerListing[], whiteoutSizes: Map<string, number>[]): EfficiencyResult {
  const perPath = new Map<string, { cumulative: number; min: number; copies: number }>();
  const ordered = [...listings].sort((a, b) => a.index - b.index);
  let sizeBytes = 0;
  let userSizeBytes = 0;
  for (const [position, listing] of ordered.entries()) {
    sizeBytes += listing.bytes;
    if (position > 0) userSizeBytes += listing.bytes;
    const sizes = new Map<string, number>();
    const ancestors = new Set<string>();
    for (const entry of listing.entries) {
      if (entry.path === '') continue;
      const size = entry.type === 'whiteout' ? (whiteoutSizes[listing.index]?.get(entry.path) ?? 0) : entry.type === 'opaque' ? 0 : entry.size;
      sizes.set(entry.path, size);
      for (let slash = entry.path.lastIndexOf('/'); slash > 0; slash = entry.path.lastIndexOf('/', slash - 1)) {
        const parent = entry.path.slice(0, slash);
        if (ancestors.has(parent)) break;
        ancestors.add(parent);
      }
    }
    for (const [path, size] of sizes) {
      if (ancestors.has(path)) continue;
      const data = perPath.get(path);
      if (data) {
        data.cumulative += size;
        data.min = Math.min(data.min, size);
        data.copies += 1;
      } else {
        perPath.set(path, { cumulative: size, min: size, copies: 1 });
      }
    }
  }
  let minimum = 0;
  let discovered = 0;
  let wastedBytes = 0;
  const inefficiencies: Inefficiency[] = [];
  for (const [path, data] of perPath) {
    minimum += data.min;
    discovered += data.cumulative;
    if (data.copies >= 2) {
      wastedBytes += data.cumulative;
      inefficiencies.push({ path, bytes: data.cumulative, copies: data.copies });
    }
  }
  inefficiencies.sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1));
  return {
    sizeBytes,
    userSizeBytes,
    wastedBytes,
    userWastedPercent: userSizeBytes === 0 ? 0 : wastedBytes / userSizeBytes,
    efficiency: discovered === 0 ? 1 : minimum / discovered,
    inefficiencies,
  };
}
