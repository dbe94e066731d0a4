/**
 * The cluster tree of a fleet: functions that keep many of the same bytes sit close together. Each
 * internal node is a candidate shared layer for the functions below it. Because engines reuse a layer
 * only when every layer below it is the same (chain IDs), a function's shared layers must be one
 * root-to-leaf path of this tree, and two functions then share exactly the layers of their common
 * ancestors.
 */
export interface ClusterNode {
  /** sorted function names */
  members: string[];
  memberSet: Set<string>;
  children: ClusterNode[];
  parent?: ClusterNode;
  /** the function of a leaf */
  leaf?: string;
}

/** One shareable file or symlink: the functions that keep it with this exact content, mode and owner. */
export interface SharedCandidate {
  path: string;
  key: string;
  bytes: number;
  /** sorted */
  users: string[];
}

function leafNode(name: string): ClusterNode {
  return { members: [name], memberSet: new Set([name]), children: [], leaf: name };
}

function joinNodes(a: ClusterNode, b: ClusterNode): ClusterNode {
  const members = [...a.members, ...b.members].sort();
  const node: ClusterNode = { members, memberSet: new Set(members), children: [a, b].sort((x, y) => (x.members[0]! < y.members[0]! ? -1 : 1)) };
  a.parent = node;
  b.parent = node;
  return node;
}

/**
 * Average-linkage agglomerative clustering on the bytes each pair of functions keeps in common.
 * Clusters that share nothing stay apart, so unrelated functions (another language, another base)
 * end up in separate trees. Ties go to the pair listed first, in name order, so the tree depends
 * only on its inputs.
 */
export function clusterFunctions(names: string[], candidates: SharedCandidate[]): ClusterNode[] {
  const sorted = [...names].sort();
  const position = new Map(sorted.map((n, i) => [n, i]));
  const n = sorted.length;
  // bytes by user set first: a fleet has far fewer distinct user sets than files
  const bySignature = new Map<string, { users: number[]; bytes: number }>();
  for (const c of candidates) {
    if (c.users.length < 2) continue;
    const users = c.users.map((u) => position.get(u)!).filter((i) => i !== undefined);
    const signature = users.join(',');
    const entry = bySignature.get(signature) ?? { users, bytes: 0 };
    entry.bytes += c.bytes;
    bySignature.set(signature, entry);
  }
  const pair: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const { users, bytes } of bySignature.values()) {
    for (let a = 0; a < users.length; a++) for (let b = a + 1; b < users.length; b++) {
      pair[users[a]!]![users[b]!]! += bytes;
      pair[users[b]!]![users[a]!]! += bytes;
    }
  }

  const clusters = sorted.map((name) => ({ node: leafNode(name), size: 1 }));
  const sim = pair.map((row) => [...row]);
  for (;;) {
    let best = 0;
    let bi = -1;
    let bj = -1;
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length; j++) {
        if (sim[i]![j]! > best) [best, bi, bj] = [sim[i]![j]!, i, j];
      }
    }
    if (bi < 0) break;
    const a = clusters[bi]!;
    const b = clusters[bj]!;
    const size = a.size + b.size;
    // average linkage: the merged cluster's similarity to k is the size-weighted mean of its parts'
    for (let k = 0; k < clusters.length; k++) {
      if (k === bi || k === bj) continue;
      const value = (a.size * sim[bi]![k]! + b.size * sim[bj]![k]!) / size;
      sim[bi]![k] = value;
      sim[k]![bi] = value;
    }
    clusters[bi] = { node: joinNodes(a.node, b.node), size };
    clusters.splice(bj, 1);
    sim.splice(bj, 1);
    for (const row of sim) row.splice(bj, 1);
  }
  return clusters.map((c) => c.node).sort((x, y) => (x.members[0]! < y.members[0]! ? -1 : 1));
}

/** Removes a node from its tree: its children take its place under its parent, or become roots. */
export function dissolveNode(roots: ClusterNode[], node: ClusterNode): ClusterNode[] {
  const parent = node.parent;
  for (const child of node.children) child.parent = parent;
  if (parent) {
    parent.children = parent.children.flatMap((c) => (c === node ? node.children : [c])).sort((x, y) => (x.members[0]! < y.members[0]! ? -1 : 1));
    return roots;
  }
  return roots.flatMap((r) => (r === node ? node.children : [r])).sort((x, y) => (x.members[0]! < y.members[0]! ? -1 : 1));
}

/** Nodes in pre-order: parents before children, roots and siblings in member-name order. */
export function preOrder(roots: ClusterNode[]): ClusterNode[] {
  const out: ClusterNode[] = [];
  const visit = (node: ClusterNode) => {
    out.push(node);
    for (const child of node.children) visit(child);
  };
  for (const root of roots) visit(root);
  return out;
}
