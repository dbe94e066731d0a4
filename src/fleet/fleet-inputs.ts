import { access } from 'node:fs/promises';
import { engineName, requireEngine } from '../docker/engine.js';
import { effectiveArgv } from '../docker/function-container.js';
import { inputError } from '../errors.js';
import { prepareImage } from '../image/prepare.js';
import { loadRecording } from '../recording/parse.js';
import type { Recording } from '../recording/types.js';
import { requireEngineReference } from '../trace/engine-image.js';
import type { ContentStore } from './content-store.js';
import type { FleetFunctionSpec, FleetSpec } from './fleet-file.js';
import { functionFacts, keepFromProfile, keepFromTrace, type FunctionFacts } from './function-facts.js';
import type { FleetState } from './state-file.js';

export /** Everything that can be wrong with the inputs is found before any container starts (exit 3). */
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
        if (err.statusCode === 404) throw inputError(`${spec.file}: ${f.field}.image ${f.image} is not in ${engineName()}`, 'build or pull it first, or fix the name');
        throw err;
      });
    if ((info.RepoTags ?? []).includes(f.tag)) throw inputError(`${spec.file}: ${f.field}.tag ${f.tag} names the original image; slim never retags it`);
    // tracing and verifying run the image: what would stop them is found now, not after the other functions
    if ((info.Os ?? 'linux') !== 'linux' || (info.Architecture ?? 'amd64') !== 'amd64') {
      throw inputError(`${spec.file}: ${f.field}.image ${f.image} is ${info.Os}/${info.Architecture}, and slim runs it: it needs linux/amd64`);
    }
    const asList = (v: string | string[] | undefined | null) => (typeof v === 'string' ? [v] : v);
    if (effectiveArgv({ Entrypoint: asList(info.Config?.Entrypoint), Cmd: asList(info.Config?.Cmd) }, recordings[spec.functions.indexOf(f)]!).length === 0) {
      throw inputError(`${spec.file}: ${f.field}.image ${f.image} has no ENTRYPOINT or CMD`, 'give "command" in its recording');
    }
  }
  return recordings;
}

export /** Reads one function's image, works out what it keeps, and closes the image again. */
async function readFunction(spec: FleetFunctionSpec, recording: Recording, store: ContentStore, pinnedKeys: Map<string, Set<string>>, epoch: number, log: (line: string) => void): Promise<FunctionFacts> {
  log(`reading ${spec.image}`);
  // the content store hard-links each kept file's content, so every file is copied out
  const prepared = await prepareImage(spec.image, { contents: true, extractAll: true });
  try {
    log(spec.profile ? `${spec.name}: keep set from ${spec.profile}` : `${spec.name}: tracing a run of the recording`);
    const decision = spec.profile ? await keepFromProfile(prepared, spec.profile) : await keepFromTrace(prepared, recording, { include: spec.include, exclude: spec.exclude, includeExe: spec.includeExe });
    return await functionFacts(spec, prepared, recording, decision, store, pinnedKeys, epoch);
  } finally {
    await prepared.close();
  }
}

/** Every (path, key) a pinned layer holds: files an image has so are kept in the content store. */
export function pinnedKeysOf(state: FleetState | undefined): Map<string, Set<string>> {
  const keys = new Map<string, Set<string>>();
  for (const layer of state?.layers ?? []) {
    for (const e of layer.entries) keys.set(e.path, (keys.get(e.path) ?? new Set()).add(e.key));
  }
  return keys;
}

