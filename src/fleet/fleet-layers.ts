import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { inputError } from '../errors.js';
import type { FileRecord } from '../image/file-index.js';
import type { NewLayer } from '../image/image-writer.js';
import { parseIdentityKey } from '../plan/fleet-identity.js';
import type { FleetPlan, FunctionLayout, SharedLayerPlan } from '../plan/fleet-plan.js';
import { GROUP_TITLES } from '../plan/grouping.js';
import { layersOf, type PlannedEntry, type PlannedLayer } from '../plan/plan.js';
import { writePlannedLayer, type WriteSettings } from '../build/layer-contents.js';
import type { ContentStore } from './content-store.js';
import type { FunctionFacts } from './function-facts.js';
import type { StateLayer } from './state-file.js';

const REPACK = 'rebuild with --repack to plan the shared layers again';

/** A shared layer's entries as the writer takes them: records made from their identity keys. */
function sharedEntries(layer: SharedLayerPlan): PlannedEntry[] {
  return layer.entries.map(({ path, key }) => {
    const id = parseIdentityKey(key)!;
    const record: FileRecord = { path: path.slice(1), type: id.type, size: id.size, mode: id.mode, uid: id.uid, gid: id.gid, mtime: id.mtime, layer: 0 };
    if (id.linkTarget !== undefined) record.linkTarget = id.linkTarget;
    return { path, record, group: 'system', rule: `shared layer ${layer.id}` };
  });
}

export interface WrittenSharedLayer {
  plan: SharedLayerPlan;
  layer: NewLayer;
}

/**
 * Writes the shared layers some function stands on. A pinned layer is written again from the files the
 * state lists, and must come out byte for byte as published: when its files are no longer in any image,
 * or its digest differs (the state was edited, or another base), the build stops and suggests --repack.
 */
export async function writeSharedLayers(plan: FleetPlan, state: Map<string, StateLayer>, store: ContentStore, dir: string, settings: WriteSettings, stateFile: string | undefined) {
  const used = new Set(plan.functions.flatMap((f) => f.layers));
  const written = new Map<string, WrittenSharedLayer>();
  await mkdir(dir, { recursive: true });
  for (const layer of plan.layers.filter((l) => used.has(l.id))) {
    const users = plan.functions.filter((f) => f.layers.includes(layer.id)).map((f) => f.name);
    const entries = sharedEntries(layer);
    const digestOf = new Map(layer.entries.map((e) => [e.path, parseIdentityKey(e.key)!.sha256]));
    for (const entry of entries) {
      const sha256 = digestOf.get(entry.path);
      if (sha256 && !store.has(sha256)) {
        throw inputError(
          `${stateFile ?? 'the state'}: shared layer ${layer.id} holds ${entry.path} with content ${sha256}, and no function's image has that file any more (another base image?)`,
          REPACK,
        );
      }
    }
    const title = `slim fleet: ${layer.delta ? 'delta' : 'shared'} layer ${layer.id}`;
    const comment = `${layer.files} files, ${layer.bytes} bytes, for ${users.join(', ')}`;
    const newLayer = await writePlannedLayer({ title, comment, entries }, (e) => {
      const sha256 = digestOf.get(e.path);
      return sha256 ? store.pathOf(sha256) : undefined;
    }, dir, layer.id, settings);
    const pinned = state.get(layer.id);
    if (pinned && (pinned.diffId !== newLayer.written.tar.digest || pinned.digest !== newLayer.written.blob.digest)) {
      throw inputError(
        `${stateFile ?? 'the state'}: shared layer ${layer.id} comes out as ${newLayer.written.blob.digest}, but the state pins ${pinned.digest} (the state was edited, or written by another slim version)`,
        REPACK,
      );
    }
    written.set(layer.id, { plan: layer, layer: newLayer });
  }
  return written;
}

/**
 * A function's own layers, system → deps → app as `slim build` plans them, holding what its shared
 * layers do not provide, the directories whose mode or owner its original has otherwise, and the
 * whiteouts that hide what a drifted pinned layer holds and its original does not.
 */
export function ownLayers(facts: FunctionFacts, layout: FunctionLayout): PlannedLayer[] {
  const entries = new Map<string, PlannedEntry>();
  for (const entry of facts.entries.values()) if (!layout.provided.has(entry.path)) entries.set(entry.path, entry);
  for (const path of layout.directoryOverrides) {
    const record = facts.index.get(path);
    if (record && !entries.has(path)) entries.set(path, { path, record, group: 'system', rule: 'a directory of its shared layers, as its original has it' });
  }
  for (const path of layout.whiteouts) {
    const record: FileRecord = { path: path.slice(1), type: 'file', size: 0, mode: 0, uid: 0, gid: 0, mtime: 0, layer: 0 };
    entries.set(path, { path, record, group: 'system', rule: 'hidden: a pinned shared layer holds it, its original does not', whiteout: true });
  }
  return layersOf(entries.values(), facts.index);
}

export async function writeOwnLayers(facts: FunctionFacts, layers: PlannedLayer[], store: ContentStore, dir: string, settings: WriteSettings): Promise<NewLayer[]> {
  await mkdir(dir, { recursive: true });
  const out: NewLayer[] = [];
  for (const [i, layer] of layers.entries()) {
    const title = `slim fleet: ${GROUP_TITLES[layer.group]}`;
    const comment = `${layer.files} files, ${layer.bytes} bytes kept from ${facts.originalId}`;
    out.push(
      await writePlannedLayer({ title, comment, entries: layer.entries }, (e) => {
        const sha256 = facts.contents.get(e.path);
        return sha256 ? store.pathOf(sha256) : undefined;
      }, dir, String(i), settings),
    );
  }
  return out;
}

export function sharedLayerDir(work: string): string {
  return join(work, 'shared');
}
