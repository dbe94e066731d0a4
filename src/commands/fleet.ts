import { join } from 'node:path';
import { makeTempDir } from '../cleanup.js';
import { inputError, usageError } from '../errors.js';
import { isDirectoryKey, keyBytes } from '../plan/fleet-identity.js';
import { FLEET_PLAN_DEFAULTS, planFleet } from '../plan/fleet-plan.js';
import { sourceDateEpoch } from '../build/layer-contents.js';
import type { LayerCompression } from '../image/layer-writer.js';
import { ContentStore } from '../fleet/content-store.js';
import { loadFleetFile } from '../fleet/fleet-file.js';
import { checkInputs, pinnedKeysOf, readFunction } from '../fleet/fleet-inputs.js';
import { sharedLayerDir, writeSharedLayers } from '../fleet/fleet-layers.js';
import { fleetReport, type FleetReport } from '../fleet/fleet-report.js';
import { buildFunction, type BuiltFunction } from '../fleet/function-image.js';
import type { FunctionFacts } from '../fleet/function-facts.js';
import { nextState, pinnedState, readFleetState, writeFleetState } from '../fleet/state-file.js';

export interface FleetBuildOptions {
  stateFile?: string;
  repack: boolean;
  verify: boolean;
  compression: LayerCompression;
  log: (line: string) => void;
}

/**
 * `slim fleet build FLEET.json`: for each function, trace (or read its profile) → keep set; then one plan
 * of shared layers for all; then each image written, loaded, verified and tagged on its own.
 */
export async function fleetBuildCommand(fleetFile: string, options: FleetBuildOptions): Promise<FleetReport> {
  if (options.repack && !options.stateFile) throw usageError('--repack starts the state file over: it needs --state FILE');
  if (options.compression === 'estargz') throw usageError('--compression estargz is for slim build (its prefetch order is one function\'s): a fleet takes gzip or zstd');
  const spec = await loadFleetFile(fleetFile);
  const recordings = await checkInputs(spec);
  const state = options.stateFile && !options.repack ? await readFleetState(options.stateFile) : undefined;
  const settings = { epoch: sourceDateEpoch(), compression: options.compression };
  if (state && state.sourceDateEpoch !== settings.epoch) {
    throw inputError(`${options.stateFile} was written with SOURCE_DATE_EPOCH=${state.sourceDateEpoch}, and this build has ${settings.epoch}: the pinned layers' timestamps would differ`, `set SOURCE_DATE_EPOCH=${state.sourceDateEpoch}, or rebuild with --repack`);
  }
  if (state && state.compression !== settings.compression) {
    throw inputError(`${options.stateFile} pins ${state.compression} layers, and this build asks for ${settings.compression}: their digests would differ`, `build with --compression ${state.compression}, or rebuild with --repack`);
  }
  const work = await makeTempDir('fleet');
  try {
    const store = await ContentStore.create(join(work.path, 'content'));
    const pinnedKeys = pinnedKeysOf(state);
    const facts: FunctionFacts[] = [];
    for (const [i, f] of spec.functions.entries()) facts.push(await readFunction(f, recordings[i]!, store, pinnedKeys, settings.epoch, options.log));

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
    const shared = await writeSharedLayers(plan, new Map((state?.layers ?? []).map((l) => [l.id, l])), store, sharedLayerDir(work.path), settings, options.stateFile);

    const built: BuiltFunction[] = [];
    for (const [i, f] of facts.entries()) {
      const layout = plan.functions.find((l) => l.name === f.spec.name)!;
      built.push(await buildFunction(f, layout, shared, store, join(work.path, `function-${i}`), settings, options.verify, options.log));
    }
    if (options.stateFile) await writeFleetState(options.stateFile, nextState(plan, shared, state, settings));
    return fleetReport(spec, plan, shared, built, state === undefined, options.stateFile);
  } finally {
    await work.remove();
  }
}

