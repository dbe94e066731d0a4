import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../cleanup.js';
import { requireEngine } from '../docker/engine.js';
import { inputError, SlimError, usageError } from '../errors.js';
import { assembleImage } from '../image/image-writer.js';
import { prepareImage } from '../image/prepare.js';
import { isDirectoryKey, keyBytes } from '../plan/fleet-identity.js';
import { FLEET_PLAN_DEFAULTS, planFleet, type FleetPlan, type FunctionLayout } from '../plan/fleet-plan.js';
import { loadRecording } from '../recording/parse.js';
import type { Recording } from '../recording/types.js';
import { requireEngineReference } from '../trace/engine-image.js';
import { VERSION } from '../version.js';
import { sourceDateEpoch } from '../build/layer-contents.js';
import { verificationSummary } from '../build/report.js';
import { loadUntagged } from '../build/slim-image.js';
import { retag } from '../build/slim-tag.js';
import { verifySlim } from '../build/verify-slim.js';
import { ContentStore } from '../fleet/content-store.js';
import { loadFleetFile, type FleetFunctionSpec, type FleetSpec } from '../fleet/fleet-file.js';
import { ownLayers, sharedLayerDir, writeOwnLayers, writeSharedLayers, type WrittenSharedLayer } from '../fleet/fleet-layers.js';
import { pullFigures, type FleetFunctionReport, type FleetLayerFigures, type FleetReport } from '../fleet/fleet-report.js';
import { functionFacts, keepFromProfile, keepFromTrace, type FunctionFacts } from '../fleet/function-facts.js';
import { pinnedState, readFleetState, writeFleetState, type FleetState } from '../fleet/state-file.js';

export interface FleetBuildOptions {
  stateFile?: string;
  repack: boolean;
  verify: boolean;
  log: (line: string) => void;
}

/** Everything that can be wrong with the inputs is found before any container starts (exit 3). */
async function checkInputs(spec: FleetSpec): Promise<Recording[]> {
  const recordings: Recording[] = [];
  for (const f of spec.functions) {
    recordings.push(await loadRecording(f.recording));
    if (f.profile) await access(f.profile).catch(() => {
      throw inputError(`${spec.file}: ${f.field}.profile ${f.profile} does not exist`);
    });
  }
  const engine = await requireEngine();
  for (const f of spec.functions) {
    await requireEngineReference(f.image);
    const info = await engine
      .getImage(f.image)
      .inspect()
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode === 404) throw inputError(`${spec.file}: ${f.field}.image ${f.image} is not in the Docker engine`, 'build or pull it first, or fix the name');
        throw err;
      });
    if ((info.RepoTags ?? []).includes(f.tag)) throw inputError(`${spec.file}: ${f.field}.tag ${f.tag} names the original image; slim never retags it`);
  }
  return recordings;
}

/** Reads one function's image, works out what it keeps, and closes the image again. */
async function readFunction(spec: FleetFunctionSpec, recording: Recording, store: ContentStore, pinnedKeys: Map<string, Set<string>>, epoch: number, log: (line: string) => void): Promise<FunctionFacts> {
  log(`reading ${spec.image}`);
  const prepared = await prepareImage(spec.image, { contents: true });
  try {
    log(spec.profile ? `${spec.name}: keep set from ${spec.profile}` : `${spec.name}: tracing a run of the recording`);
    const decision = spec.profile ? await keepFromProfile(prepared, spec.profile) : await keepFromTrace(prepared, recording);
    return await functionFacts(spec, prepared, recording, decision, store, pinnedKeys, epoch);
  } finally {
    await prepared.close();
  }
}

function pinnedKeysOf(state: FleetState | undefined): Map<string, Set<string>> {
  const keys = new Map<string, Set<string>>();
  for (const layer of state?.layers ?? []) {
    for (const e of layer.entries) keys.set(e.path, (keys.get(e.path) ?? new Set()).add(e.key));
  }
  return keys;
}

interface BuiltFunction {
  report: Omit<FleetFunctionReport, 'coldNodeBytes' | 'warmNodeBytes' | 'inOrderBytes'>;
}

/** Assembles, loads, verifies and tags one function's image: its shared layers, then its own. */
async function buildFunction(facts: FunctionFacts, layout: FunctionLayout, shared: Map<string, WrittenSharedLayer>, store: ContentStore, dir: string, epoch: number, verify: boolean, log: (line: string) => void): Promise<BuiltFunction> {
  const { spec } = facts;
  const planned = ownLayers(facts, layout);
  const own = await writeOwnLayers(facts, planned, store, dir, epoch);
  const sharedLayers = layout.layers.map((id) => shared.get(id)!);
  const assembled = assembleImage(JSON.parse(facts.rawConfig.toString()) as Record<string, unknown>, [...sharedLayers.map((s) => s.layer), ...own], {
    'io.slim.source-image': facts.originalId,
    'io.slim.version': VERSION,
  });
  const layers: FleetLayerFigures[] = [
    ...sharedLayers.map((s) => ({ id: s.plan.id, shared: true, files: s.plan.files, bytes: s.plan.bytes, compressedBytes: s.layer.written.gzip.size, diffId: s.layer.written.tar.digest, digest: s.layer.written.gzip.digest })),
    ...planned.map((l, i) => ({ id: l.group, shared: false, files: l.files, bytes: l.bytes, compressedBytes: own[i]!.written.gzip.size, diffId: own[i]!.written.tar.digest, digest: own[i]!.written.gzip.digest })),
  ];
  const base = {
    name: spec.name,
    image: spec.image,
    originalId: facts.originalId,
    keptBy: facts.source,
    layers,
    fileBytes: layers.reduce((s, l) => s + l.bytes, 0),
    tracedFloorBytes: facts.tracedBytes,
    carriedBytes: layout.carriedBytes,
    providedBytes: layout.providedBytes,
    whiteouts: layout.whiteouts.length,
    directoryOverrides: layout.directoryOverrides.length,
    joined: layout.joined,
    warnings: facts.warnings,
  };
  log(`${spec.name}: loading the slim image into the engine`);
  const slim = await loadUntagged(assembled);
  try {
    let verification;
    if (verify) {
      log(`${spec.name}: verifying against ${spec.image}`);
      const outcome = await verifySlim(facts.originalId, slim.id, facts.recording);
      if (!outcome.ok) {
        const whatBecameOfIt = await slim.discard();
        const failure = `verification failed: the slim image answers differently from the original\n${outcome.result.report}${whatBecameOfIt}`;
        return { report: { ...base, tag: null, slimId: null, ok: false, verification: verificationSummary(outcome.result), failure } };
      }
      verification = outcome.result;
    }
    await retag(slim.id, spec.tag);
    return { report: { ...base, tag: spec.tag, slimId: slim.id, ok: true, verification: verificationSummary(verification), failure: null } };
  } finally {
    await slim.release();
  }
}

/** The state after this build: the layers published so far (pinned ones as they were), and every function's chain. */
function nextState(plan: FleetPlan, shared: Map<string, WrittenSharedLayer>, previous: FleetState | undefined, epoch: number): FleetState {
  const old = new Map((previous?.layers ?? []).map((l) => [l.id, l]));
  const layers = plan.layers.flatMap((l) => {
    const written = shared.get(l.id);
    const pinned = old.get(l.id);
    if (pinned) return [pinned];
    if (!written) return [];
    return [{ id: l.id, parent: l.parent, members: l.members, delta: l.delta, entries: l.entries, diffId: written.layer.written.tar.digest, digest: written.layer.written.gzip.digest, size: written.layer.written.gzip.size }];
  });
  const functions = new Map(previous?.functions ?? []);
  for (const f of plan.functions) functions.set(f.name, f.layers);
  return { sourceDateEpoch: epoch, layers, functions };
}

/**
 * `slim fleet build FLEET.json`: for each function, trace (or read its profile) → keep set; then one plan
 * of shared layers for all; then each image written, loaded, verified and tagged on its own.
 */
export async function fleetBuildCommand(fleetFile: string, options: FleetBuildOptions): Promise<FleetReport> {
  if (options.repack && !options.stateFile) throw usageError('--repack starts the state file over: it needs --state FILE');
  const spec = await loadFleetFile(fleetFile);
  const recordings = await checkInputs(spec);
  const state = options.stateFile && !options.repack ? await readFleetState(options.stateFile) : undefined;
  const epoch = sourceDateEpoch();
  if (state && state.sourceDateEpoch !== epoch) {
    throw inputError(`${options.stateFile} was written with SOURCE_DATE_EPOCH=${state.sourceDateEpoch}, and this build has ${epoch}: the pinned layers' timestamps would differ`, `set SOURCE_DATE_EPOCH=${state.sourceDateEpoch}, or rebuild with --repack`);
  }
  const work = await makeTempDir('fleet');
  try {
    const store = await ContentStore.create(join(work.path, 'content'));
    const pinnedKeys = pinnedKeysOf(state);
    const facts: FunctionFacts[] = [];
    for (const [i, f] of spec.functions.entries()) facts.push(await readFunction(f, recordings[i]!, store, pinnedKeys, epoch, options.log));

    options.log('planning the shared layers');
    const plan = planFleet(facts.map((f) => f.input), {
      budget: spec.layerBudget,
      minLayerBytes: FLEET_PLAN_DEFAULTS.minLayerBytes,
      minPopularity: FLEET_PLAN_DEFAULTS.minPopularity,
      bytesOf: keyBytes,
      isDirectory: isDirectoryKey,
      ...(state ? { pinned: pinnedState(state) } : {}),
    });
    options.log('writing the shared layers');
    const shared = await writeSharedLayers(plan, new Map((state?.layers ?? []).map((l) => [l.id, l])), store, sharedLayerDir(work.path), epoch, options.stateFile);

    const built: BuiltFunction[] = [];
    for (const [i, f] of facts.entries()) {
      const layout = plan.functions.find((l) => l.name === f.spec.name)!;
      built.push(await buildFunction(f, layout, shared, store, join(work.path, `function-${i}`), epoch, options.verify, options.log));
    }
    if (options.stateFile) await writeFleetState(options.stateFile, nextState(plan, shared, state, epoch));
    return fleetReport(spec, plan, shared, built, state === undefined, options.stateFile);
  } finally {
    await work.remove();
  }
}

function fleetReport(spec: FleetSpec, plan: FleetPlan, shared: Map<string, WrittenSharedLayer>, built: BuiltFunction[], fresh: boolean, stateFile: string | undefined): FleetReport {
  const figures = pullFigures(built.map((b) => b.report));
  const functions: FleetFunctionReport[] = built.map((b, i) => ({ ...b.report, ...figures[i]! }));
  const sharedLayers = [...shared.values()].map(({ plan: l, layer }) => ({
    id: l.id,
    shared: true,
    files: l.files,
    bytes: l.bytes,
    compressedBytes: layer.written.gzip.size,
    diffId: layer.written.tar.digest,
    digest: layer.written.gzip.digest,
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
