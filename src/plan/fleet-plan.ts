import { clusterFunctions, dissolveNode, preOrder, type ClusterNode, type SharedCandidate } from './fleet-tree.js';
import { compareBytes, parentsOf } from './plan.js';

/**
 * What the fleet planner knows of one function: plain maps, so the plan depends only on its inputs
 * (the fleet's keep sets, their originals and the pinned state), as apko's layering does.
 */
export interface FleetFunctionInput {
  name: string;
  /** kept files and symlinks that may go in a shared layer (system and dependency groups), by path: their identity key */
  shareable: Map<string, string>;
  /** every kept path, any group or type: a path the function writes itself needs no whiteout */
  kept: Set<string>;
  /** every path of the original's merged view: its identity key */
  original: Map<string, string>;
}

/** A shared layer as published earlier, from the state file. */
export interface PinnedLayer {
  id: string;
  parent: string | null;
  members: string[];
  /** every entry of the layer, parent directories included, in tar order */
  entries: Array<{ path: string; key: string }>;
  delta: boolean;
}

export interface PinnedState {
  /** parents before children */
  layers: PinnedLayer[];
  /** each known function's shared layers, bottom first */
  functions: Map<string, string[]>;
}

export interface FleetPlanOptions {
  /** the most shared layers a fresh plan makes (containerd allows 127 layers per image) */
  budget: number;
  /** a shared layer smaller than this is dissolved: its files move up the tree or stay with their functions */
  minLayerBytes: number;
  /** a file joins a cluster's layer when at least this fraction of the cluster keeps it */
  minPopularity: number;
  /** content bytes of an identity key (0 for directories and symlinks) */
  bytesOf: (key: string) => number;
  isDirectory: (key: string) => boolean;
  pinned?: PinnedState;
}

export const FLEET_PLAN_DEFAULTS = { budget: 8, minLayerBytes: 256 * 1024, minPopularity: 0.5 } as const;

export interface SharedLayerPlan {
  id: string;
  /** the shared layer below it, null at the bottom */
  parent: string | null;
  /** the functions whose images may hold it (the cluster it was planned for) */
  members: string[];
  /** parent directories included, sorted by path bytes */
  entries: Array<{ path: string; key: string }>;
  files: number;
  bytes: number;
  /** from the state file: written byte for byte as it was published */
  pinned: boolean;
  /** added on top of pinned layers for functions that joined after the last repack */
  delta: boolean;
}

export interface FunctionLayout {
  name: string;
  /** its shared layers, bottom first */
  layers: string[];
  /** kept paths the shared layers hold exactly as the function keeps them (shareable files and symlinks, and directories) */
  provided: Set<string>;
  /** paths of the shared layers the function's original does not have as they are there, and it does not write: hidden */
  whiteouts: string[];
  /** directories of the shared layers whose mode or owner differ from the function's original: written again */
  directoryOverrides: string[];
  providedBytes: number;
  /** bytes in its shared layers that its run does not use (identical to its original, or hidden) */
  carriedBytes: number;
  /** joined a pinned fleet after the last repack */
  joined: boolean;
}

export interface FleetPlan {
  layers: SharedLayerPlan[];
  functions: FunctionLayout[];
}

interface Placement {
  /** node → entries (path, key) assigned to it */
  assigned: Map<ClusterNode, SharedCandidate[]>;
}

function candidatesOf(functions: FleetFunctionInput[], bytesOf: (key: string) => number): SharedCandidate[] {
  const byEntry = new Map<string, SharedCandidate>();
  for (const f of functions) {
    for (const [path, key] of f.shareable) {
      const id = `${path}\0${key}`;
      const c = byEntry.get(id) ?? { path, key, bytes: bytesOf(key), users: [] };
      c.users.push(f.name);
      byEntry.set(id, c);
    }
  }
  for (const c of byEntry.values()) c.users.sort();
  return [...byEntry.values()].sort((a, b) => compareBytes(a.path, b.path) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Assigns each candidate to the highest node of the tree where it is shared: at least `minPopularity` of
 * the node's functions keep it, and every one of them has it, identical, in its original (so no image
 * gains a file its original did not have). Where a node fails either test, the question goes to each
 * child that holds two or more of its users. With `leaves`, a file kept by one function goes to its leaf.
 */
function place(roots: ClusterNode[], candidates: SharedCandidate[], byName: Map<string, FleetFunctionInput>, options: FleetPlanOptions, leaves: boolean): Placement {
  const assigned = new Map<ClusterNode, SharedCandidate[]>();
  const fewest = leaves ? 1 : 2;
  const placeable = (c: SharedCandidate, node: ClusterNode, users: Set<string>) =>
    node.members.every((m) => users.has(m) || byName.get(m)!.original.get(c.path) === c.key);
  const placeAt = (c: SharedCandidate, node: ClusterNode, users: string[], userSet: Set<string>) => {
    const allowed = node.leaf === undefined || leaves;
    if (allowed && users.length / node.members.length >= options.minPopularity && placeable(c, node, userSet)) {
      const list = assigned.get(node) ?? [];
      list.push(c);
      assigned.set(node, list);
      return;
    }
    for (const child of node.children) {
      const inChild = users.filter((u) => child.memberSet.has(u));
      if (inChild.length >= fewest) placeAt(c, child, inChild, userSet);
    }
  };
  for (const c of candidates) {
    const userSet = new Set(c.users);
    for (const root of roots) {
      const users = c.users.filter((u) => root.memberSet.has(u));
      if (users.length >= fewest) placeAt(c, root, users, userSet);
    }
  }
  return { assigned };
}

const bytesIn = (list: SharedCandidate[] | undefined) => (list ?? []).reduce((s, c) => s + c.bytes, 0);

/**
 * Plans shared layers for `functions` from scratch: the cluster tree, the placement, then nodes
 * dissolved smallest first while there are more layers than the budget or a layer is below the
 * minimum size. With `leaves` (delta layers), leaves hold the files only one function keeps, and
 * neither the budget nor the minimum size removes a leaf.
 */
function planTree(functions: FleetFunctionInput[], candidates: SharedCandidate[], options: FleetPlanOptions, leaves: boolean, budget: number) {
  const byName = new Map(functions.map((f) => [f.name, f]));
  let roots = clusterFunctions(functions.map((f) => f.name), candidates);
  for (;;) {
    const placement = place(roots, candidates, byName, options, leaves);
    const layered = preOrder(roots).filter((n) => bytesIn(placement.assigned.get(n)) > 0 || (placement.assigned.get(n)?.length ?? 0) > 0);
    const dissolvable = layered.filter((n) => n.leaf === undefined);
    const overBudget = layered.filter((n) => n.leaf === undefined).length > budget;
    const small = dissolvable.filter((n) => bytesIn(placement.assigned.get(n)) < options.minLayerBytes);
    const pool = overBudget ? dissolvable : small;
    if (pool.length === 0) return { roots, placement, layered };
    // the smallest goes first; among equals, the one with fewest functions, then the last in tree order
    const victim = [...pool].sort((a, b) => bytesIn(placement.assigned.get(a)) - bytesIn(placement.assigned.get(b)) || a.members.length - b.members.length || pool.indexOf(b) - pool.indexOf(a))[0]!;
    roots = dissolveNode(roots, victim);
  }
}

/** The directory entries a shared layer needs above its files: each as most of the layer's functions have it. */
function withParents(entries: Array<{ path: string; key: string }>, members: string[], byName: Map<string, FleetFunctionInput>, isDirectory: (key: string) => boolean) {
  const all = new Map(entries.map((e) => [e.path, e.key]));
  for (const e of entries) {
    for (const dir of parentsOf(e.path)) {
      if (all.has(dir)) continue;
      const votes = new Map<string, number>();
      for (const m of members) {
        const key = byName.get(m)?.original.get(dir);
        if (key !== undefined && isDirectory(key)) votes.set(key, (votes.get(key) ?? 0) + 1);
      }
      const [best] = [...votes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      if (best) all.set(dir, best[0]);
    }
  }
  return [...all].map(([path, key]) => ({ path, key })).sort((a, b) => compareBytes(a.path, b.path));
}

function layerFromNode(id: string, parent: string | null, node: ClusterNode, assigned: SharedCandidate[], byName: Map<string, FleetFunctionInput>, options: FleetPlanOptions, delta: boolean): SharedLayerPlan {
  const entries = withParents(
    assigned.map((c) => ({ path: c.path, key: c.key })),
    node.members,
    byName,
    options.isDirectory,
  );
  return { id, parent, members: node.members, entries, files: assigned.length, bytes: bytesIn(assigned), pinned: false, delta };
}

/** Layer ids and parents for the layered nodes of a tree, in pre-order. */
function layersOfTree(roots: ClusterNode[], placement: Placement, byName: Map<string, FleetFunctionInput>, options: FleetPlanOptions, ids: () => string, base: string | null, delta: boolean) {
  const layers: SharedLayerPlan[] = [];
  const idOf = new Map<ClusterNode, string>();
  for (const node of preOrder(roots)) {
    const assigned = placement.assigned.get(node);
    if (!assigned?.length) continue;
    let up = node.parent;
    while (up && !idOf.has(up)) up = up.parent;
    const id = ids();
    idOf.set(node, id);
    layers.push(layerFromNode(id, up ? idOf.get(up)! : base, node, assigned, byName, options, delta));
  }
  /** a function's layers from this tree, bottom first */
  const chainOf = (name: string): string[] => {
    const out: string[] = [];
    for (const node of preOrder(roots)) if (node.memberSet.has(name) && idOf.has(node)) out.push(idOf.get(node)!);
    return out;
  };
  return { layers, chainOf };
}

/** The merged view of a chain of shared layers: each path's key in the top-most layer that has it. */
function viewOf(chain: string[], layersById: Map<string, { entries: Array<{ path: string; key: string }> }>): Map<string, string> {
  const view = new Map<string, string>();
  for (const id of chain) for (const e of layersById.get(id)!.entries) view.set(e.path, e.key);
  return view;
}

function layoutOf(f: FleetFunctionInput, chain: string[], view: Map<string, string>, options: FleetPlanOptions, joined: boolean): FunctionLayout {
  const provided = new Set<string>();
  let providedBytes = 0;
  for (const [path, key] of f.shareable) {
    if (view.get(path) === key) {
      provided.add(path);
      providedBytes += options.bytesOf(key);
    }
  }
  // a kept directory the shared layers already hold as its original has it needs no entry of its own
  for (const path of f.kept) {
    const key = view.get(path);
    if (key !== undefined && options.isDirectory(key) && f.original.get(path) === key) provided.add(path);
  }
  const whiteouts: string[] = [];
  const directoryOverrides: string[] = [];
  let carriedBytes = 0;
  const hidden = new Set<string>();
  for (const path of [...view.keys()].sort(compareBytes)) {
    if (parentsOf(path).some((p) => hidden.has(p))) continue;
    const key = view.get(path)!;
    const mine = f.original.get(path);
    if (options.isDirectory(key)) {
      if (mine !== undefined && options.isDirectory(mine)) {
        if (mine !== key) directoryOverrides.push(path);
      } else if (!f.kept.has(path)) {
        whiteouts.push(path);
        hidden.add(path);
      }
      continue;
    }
    if (!f.shareable.has(path) || f.shareable.get(path) !== key) carriedBytes += options.bytesOf(key);
    if (mine === key || f.kept.has(path)) continue;
    whiteouts.push(path);
  }
  return { name: f.name, layers: chain, provided, whiteouts, directoryOverrides, providedBytes, carriedBytes, joined };
}

/** Bytes of a function's shareable files a chain provides, when every file of the chain is in its original as it is there. */
function attachScore(f: FleetFunctionInput, view: Map<string, string>, options: FleetPlanOptions): number | undefined {
  for (const [path, key] of view) {
    const mine = f.original.get(path);
    if (options.isDirectory(key) ? mine === undefined || !options.isDirectory(mine) : mine !== key) return undefined;
  }
  let score = 0;
  for (const [path, key] of f.shareable) if (view.get(path) === key) score += options.bytesOf(key);
  return score;
}

function chainTo(id: string, byId: Map<string, PinnedLayer>): string[] {
  const chain: string[] = [];
  for (let at: string | null = id; at !== null; at = byId.get(at)!.parent) chain.unshift(at);
  return chain;
}

/**
 * Plans a fleet's shared layers. Without pinned state: a fresh plan (cluster tree, popularity, budget).
 * With pinned state: the pinned layers are kept exactly; known functions keep their layers; a new
 * function stands on the pinned chain that gives it the most of its files among those whose every file
 * its original has, and what that chain lacks (but for application code) goes into delta layers on top,
 * shared between functions that join together, never into the pinned ones.
 */
export function planFleet(functions: FleetFunctionInput[], options: FleetPlanOptions): FleetPlan {
  const sorted = [...functions].sort((a, b) => (a.name < b.name ? -1 : 1));
  const byName = new Map(sorted.map((f) => [f.name, f]));
  const pinned = options.pinned;
  if (!pinned) {
    const candidates = candidatesOf(sorted, options.bytesOf);
    const { roots, placement } = planTree(sorted, candidates, options, false, options.budget);
    let n = 0;
    const { layers, chainOf } = layersOfTree(roots, placement, byName, options, () => `shared-${++n}`, null, false);
    const byId = new Map(layers.map((l) => [l.id, l]));
    return { layers, functions: sorted.map((f) => layoutOf(f, chainOf(f.name), viewOf(chainOf(f.name), byId), options, false)) };
  }

  const pinnedById = new Map(pinned.layers.map((l) => [l.id, l]));
  const layers: SharedLayerPlan[] = pinned.layers.map((l) => ({
    id: l.id,
    parent: l.parent,
    members: l.members,
    entries: l.entries,
    files: l.entries.filter((e) => !options.isDirectory(e.key)).length,
    bytes: l.entries.reduce((s, e) => s + options.bytesOf(e.key), 0),
    pinned: true,
    delta: l.delta,
  }));
  const chains = new Map<string, string[]>();
  const joining = new Map<string | null, FleetFunctionInput[]>();
  for (const f of sorted) {
    const known = pinned.functions.get(f.name);
    if (known) {
      chains.set(f.name, known);
      continue;
    }
    let best: { id: string | null; score: number; depth: number } = { id: null, score: 0, depth: 0 };
    for (const layer of pinned.layers) {
      const chain = chainTo(layer.id, pinnedById);
      const score = attachScore(f, viewOf(chain, pinnedById), options);
      if (score !== undefined && (score > best.score || (score === best.score && score > 0 && chain.length < best.depth))) best = { id: layer.id, score, depth: chain.length };
    }
    joining.set(best.id, [...(joining.get(best.id) ?? []), f]);
  }

  let deltaNumber = Math.max(0, ...pinned.layers.map((l) => Number(/^delta-(\d+)$/.exec(l.id)?.[1] ?? 0)));
  for (const [attach, group] of [...joining].sort(([a], [b]) => (a ?? '') < (b ?? '') ? -1 : 1)) {
    const base = attach === null ? [] : chainTo(attach, pinnedById);
    const baseView = viewOf(base, pinnedById);
    // what the chain lacks, application code aside (it is not shareable)
    const residual = group.map((f) => ({ ...f, shareable: new Map([...f.shareable].filter(([path, key]) => baseView.get(path) !== key)) }));
    const residualByName = new Map(residual.map((f) => [f.name, f]));
    const candidates = candidatesOf(residual, options.bytesOf);
    const { roots, placement } = planTree(residual, candidates, options, true, Number.POSITIVE_INFINITY);
    const tree = layersOfTree(roots, placement, residualByName, options, () => `delta-${++deltaNumber}`, attach, true);
    layers.push(...tree.layers);
    for (const f of group) chains.set(f.name, [...base, ...tree.chainOf(f.name)]);
  }

  const byId = new Map(layers.map((l) => [l.id, l]));
  return {
    layers,
    functions: sorted.map((f) => layoutOf(f, chains.get(f.name)!, viewOf(chains.get(f.name)!, byId), options, !pinned.functions.has(f.name))),
  };
}
