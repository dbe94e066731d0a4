import { assembleImage } from '../image/image-writer.js';
import type { FunctionLayout } from '../plan/fleet-plan.js';
import { VERSION } from '../version.js';
import type { WriteSettings } from '../build/layer-contents.js';
import { verificationSummary } from '../build/report.js';
import { loadUntagged } from '../build/slim-image.js';
import { retag } from '../build/slim-tag.js';
import { verifySlim } from '../build/verify-slim.js';
import type { ContentStore } from './content-store.js';
import { ownLayers, writeOwnLayers, type WrittenSharedLayer } from './fleet-layers.js';
import type { FleetFunctionReport, FleetLayerFigures } from './fleet-report.js';
import type { FunctionFacts } from './function-facts.js';

export interface BuiltFunction {
  report: Omit<FleetFunctionReport, 'coldNodeBytes' | 'warmNodeBytes' | 'inOrderBytes'>;
}

/** Assembles, loads, verifies and tags one function's image: its shared layers, then its own. */
export async function buildFunction(facts: FunctionFacts, layout: FunctionLayout, shared: Map<string, WrittenSharedLayer>, store: ContentStore, dir: string, settings: WriteSettings, verify: boolean, log: (line: string) => void): Promise<BuiltFunction> {
  const { spec } = facts;
  const planned = ownLayers(facts, layout);
  const own = await writeOwnLayers(facts, planned, store, dir, settings);
  const sharedLayers = layout.layers.map((id) => shared.get(id)!);
  const assembled = assembleImage(JSON.parse(facts.rawConfig.toString()) as Record<string, unknown>, [...sharedLayers.map((s) => s.layer), ...own], {
    'io.slim.source-image': facts.originalId,
    'io.slim.version': VERSION,
  });
  const layers: FleetLayerFigures[] = [
    ...sharedLayers.map((s) => ({ id: s.plan.id, shared: true, files: s.plan.files, bytes: s.plan.bytes, compressedBytes: s.layer.written.blob.size, diffId: s.layer.written.tar.digest, digest: s.layer.written.blob.digest })),
    ...planned.map((l, i) => ({ id: l.group, shared: false, files: l.files, bytes: l.bytes, compressedBytes: own[i]!.written.blob.size, diffId: own[i]!.written.tar.digest, digest: own[i]!.written.blob.digest })),
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
      const outcome = await verifySlim(facts.originalId, slim.id, facts.recording, undefined, facts.originalAnswers);
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

