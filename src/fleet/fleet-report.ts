import { createHash } from 'node:crypto';
import type { VerificationSummary } from '../build/report.js';
import { SlimError } from '../errors.js';
import type { FleetPlan } from '../plan/fleet-plan.js';
import type { FleetSpec } from './fleet-file.js';
import type { WrittenSharedLayer } from './fleet-layers.js';
import type { BuiltFunction } from './function-image.js';

export interface FleetLayerFigures {
  /** shared-N / delta-N, or the function's own group: system, deps, app */
  id: string;
  shared: boolean;
  files: number;
  bytes: number;
  compressedBytes: number;
  diffId: string;
  digest: string;
}

export interface FleetFunctionReport {
  name: string;
  image: string;
  originalId: string;
  /** null when it failed verification (the image was removed, no tag created) */
  tag: string | null;
  slimId: string | null;
  ok: boolean;
  verification: VerificationSummary;
  /** why it failed, with the differences */
  failure: string | null;
  keptBy: 'trace' | 'profile';
  /** bottom first: its shared layers, then its own */
  layers: FleetLayerFigures[];
  fileBytes: number;
  tracedFloorBytes: number;
  /** compressed bytes of all its layers: what a node holding none of the fleet pulls */
  coldNodeBytes: number;
  /** what a node already running every other function of the fleet pulls for it */
  warmNodeBytes: number;
  /** what it pulls when the fleet starts in the fleet file's order on one node */
  inOrderBytes: number;
  /** uncompressed bytes of shared-layer files its run does not use: the price of sharing on a cold node */
  carriedBytes: number;
  /** uncompressed bytes of its kept files its shared layers provide */
  providedBytes: number;
  whiteouts: number;
  directoryOverrides: number;
  /** joined a pinned fleet after the last repack */
  joined: boolean;
  warnings: string[];
}

export interface FleetSharedLayerReport extends FleetLayerFigures {
  parent: string | null;
  /** the functions it was planned for */
  members: string[];
  /** the functions of this build standing on it */
  users: string[];
  pinned: boolean;
  delta: boolean;
}

export interface FleetReport {
  schemaVersion: 1;
  fleet: string;
  state: string | null;
  /** planned from scratch (no state, or --repack) */
  fresh: boolean;
  layerBudget: number;
  ok: boolean;
  sharedLayers: FleetSharedLayerReport[];
  functions: FleetFunctionReport[];
  totals: {
    functions: number;
    verified: number;
    failed: number;
    /** compressed bytes of every distinct layer of the fleet's images: a node that runs them all pulls this */
    nodeBytes: number;
    /** Σ of each image's compressed bytes: what nodes pull when each function lands on a node of its own */
    imageBytes: number;
    sharedBytes: number;
    /** compressed bytes of delta layers: what a --repack would fold into the shared layers */
    deltaBytes: number;
  };
  warnings: string[];
}

/** Chain IDs as engines key layers: a layer is reused only when it and every layer below it match. */
export function chainIds(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diff of diffIds) {
    const previous = chain.at(-1);
    chain.push(previous ? `sha256:${createHash('sha256').update(`${previous} ${diff}`).digest('hex')}` : diff);
  }
  return chain;
}

/** Fills in the pull figures from each function's layers: cold node, warm node, fleet order, and the totals. */
export function pullFigures(functions: Array<Pick<FleetFunctionReport, 'layers' | 'ok'>>): Array<{ coldNodeBytes: number; warmNodeBytes: number; inOrderBytes: number }> {
  const chains = functions.map((f) => (f.ok ? chainIds(f.layers.map((l) => l.diffId)) : []));
  const seen = new Set<string>();
  return functions.map((f, i) => {
    if (!f.ok) return { coldNodeBytes: 0, warmNodeBytes: 0, inOrderBytes: 0 };
    const others = new Set(chains.flatMap((c, j) => (j === i ? [] : c)));
    let cold = 0;
    let warm = 0;
    let inOrder = 0;
    f.layers.forEach((l, k) => {
      const id = chains[i]![k]!;
      cold += l.compressedBytes;
      if (!others.has(id)) warm += l.compressedBytes;
      if (!seen.has(id)) inOrder += l.compressedBytes;
    });
    for (const id of chains[i]!) seen.add(id);
    return { coldNodeBytes: cold, warmNodeBytes: warm, inOrderBytes: inOrder };
  });
}

/** The report of `slim fleet build`: plain data from the plan, the written layers and each function's outcome. */
export function fleetReport(spec: FleetSpec, plan: FleetPlan, shared: Map<string, WrittenSharedLayer>, built: BuiltFunction[], fresh: boolean, stateFile: string | undefined): FleetReport {
  const figures = pullFigures(built.map((b) => b.report));
  const functions: FleetFunctionReport[] = built.map((b, i) => ({ ...b.report, ...figures[i]! }));
  const sharedLayers = [...shared.values()].map(({ plan: l, layer }) => ({
    id: l.id,
    shared: true,
    files: l.files,
    bytes: l.bytes,
    compressedBytes: layer.written.blob.size,
    diffId: layer.written.tar.digest,
    digest: layer.written.blob.digest,
    parent: l.parent,
    members: l.members,
    users: plan.functions.filter((f) => f.layers.includes(l.id)).map((f) => f.name),
    pinned: l.pinned,
    delta: l.delta,
  }));
  const ok = functions.filter((f) => f.ok);
  const distinct = new Map<string, number>();
  for (const f of ok) for (const l of f.layers) distinct.set(l.digest, l.compressedBytes);
  const deltaBytes = sharedLayers.filter((l) => l.delta).reduce((s, l) => s + l.compressedBytes, 0);
  const sharedBytes = sharedLayers.reduce((s, l) => s + l.compressedBytes, 0);
  const warnings: string[] = [];
  if (sharedLayers.filter((l) => !l.delta).length > 0 && deltaBytes > 0.2 * sharedBytes) {
    warnings.push(`delta layers hold ${deltaBytes} of ${sharedBytes} shared bytes: a --repack would fold them into the shared layers`);
  }
  for (const f of functions) {
    if (f.whiteouts > 0) warnings.push(`${f.name}: its pinned layers hold ${f.whiteouts} path(s) its original no longer has (hidden by whiteouts): consider --repack`);
  }
  return {
    schemaVersion: 1,
    fleet: spec.file,
    state: stateFile ?? null,
    fresh,
    layerBudget: spec.layerBudget,
    ok: functions.every((f) => f.ok),
    sharedLayers,
    functions,
    totals: {
      functions: functions.length,
      verified: functions.filter((f) => f.ok && f.verification.verified).length,
      failed: functions.filter((f) => !f.ok).length,
      nodeBytes: [...distinct.values()].reduce((a, b) => a + b, 0),
      imageBytes: ok.reduce((s, f) => s + f.coldNodeBytes, 0),
      sharedBytes,
      deltaBytes,
    },
    warnings,
  };
}

/** Raised after the report is printed, when a function failed verification. */
export function fleetFailure(report: FleetReport): SlimError | undefined {
  const failed = report.functions.filter((f) => !f.ok);
  if (failed.length === 0) return undefined;
  return new SlimError(`${failed.length} of ${report.functions.length} functions failed verification: ${failed.map((f) => f.name).join(', ')} (the others were written and tagged)`);
}
