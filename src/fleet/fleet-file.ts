import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { inputError } from '../errors.js';
import { JsonChecker } from '../json-checker.js';
import { defaultSlimTag } from '../build/slim-tag.js';
import { FLEET_PLAN_DEFAULTS } from '../plan/fleet-plan.js';

/** One function of a fleet file, its paths made absolute. */
export interface FleetFunctionSpec {
  /** the function's stable name: the image's repository unless given (the state file knows functions by it) */
  name: string;
  image: string;
  recording: string;
  /** a profile from `slim build --profile-out` in the function's own CI job, used instead of tracing */
  profile?: string;
  tag: string;
  /** a per-image `slim build` of the same function, for `slim bench --fleet` to compare with */
  singleTag?: string;
  /** as `slim build --include/--exclude/--include-exe` (with a traced run, not a profile) */
  include: string[];
  exclude: string[];
  includeExe: string[];
  /** where in the fleet file it is named, for errors: `functions[2]` */
  field: string;
}

export interface FleetSpec {
  file: string;
  functions: FleetFunctionSpec[];
  layerBudget: number;
}

/** The most layers an image may hold on containerd is 127; each fleet image adds up to three of its own. */
export const MAX_LAYER_BUDGET = 100;

/** `registry/team/app:v1` or `…@sha256:…` → `registry/team/app`. */
export function repositoryOf(reference: string): string {
  const at = reference.indexOf('@');
  const name = at === -1 ? reference : reference.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(0, colon) : name;
}

/**
 * Reads and checks a fleet file, naming the field of any problem:
 * `{"version": 1, "functions": [{"image", "recording", "profile"?, "tag"?, "name"?, "singleTag"?}], "layerBudget"?: 8}`.
 */
export async function loadFleetFile(file: string): Promise<FleetSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read fleet file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file} is not valid JSON: ${(err as Error).message}`, 'the fleet file format is described in README.md (slim fleet)');
  }
  const c: JsonChecker = new JsonChecker(file, 'the fleet file format is described in README.md (slim fleet)');
  const root = c.object(json, 'the fleet file');
  c.only(root, '', ['version', 'functions', 'layerBudget']);
  if (root.version !== 1) c.fail('version', 'must be 1');
  if (!Array.isArray(root.functions) || root.functions.length === 0) c.fail('functions', 'must be a non-empty array');
  const layerBudget = c.optionalInt(root.layerBudget, 'layerBudget', 1, MAX_LAYER_BUDGET) ?? FLEET_PLAN_DEFAULTS.budget;
  const dir = dirname(file);
  const resolve = (path: string) => (isAbsolute(path) ? path : join(dir, path));

  const functions: FleetFunctionSpec[] = [];
  for (const [i, value] of (root.functions as unknown[]).entries()) {
    const field = `functions[${i}]`;
    const f = c.object(value, field);
    c.only(f, field, ['name', 'image', 'recording', 'profile', 'tag', 'singleTag', 'include', 'exclude', 'includeExe']);
    const image = c.string(f.image, `${field}.image`);
    if (image === '') c.fail(`${field}.image`, 'must not be empty');
    if (f.recording === undefined) c.fail(`${field}.recording`, 'is missing: each function is verified by replaying its recording');
    const recording = resolve(c.string(f.recording, `${field}.recording`));
    const profile = c.optionalString(f.profile, `${field}.profile`);
    const name = c.optionalString(f.name, `${field}.name`) ?? repositoryOf(image);
    if (name === '') c.fail(`${field}.name`, 'must not be empty');
    const tag = c.optionalString(f.tag, `${field}.tag`) ?? defaultSlimTag(image);
    if (!tag) c.fail(`${field}.tag`, `is needed: ${image} has no name to derive the slim tag from`);
    if (tag === image) c.fail(`${field}.tag`, `names the original image ${image}; slim never retags it`);
    const singleTag = c.optionalString(f.singleTag, `${field}.singleTag`);
    const globs = { include: c.optionalStrings(f.include, `${field}.include`) ?? [], exclude: c.optionalStrings(f.exclude, `${field}.exclude`) ?? [], includeExe: c.optionalStrings(f.includeExe, `${field}.includeExe`) ?? [] };
    if (profile !== undefined) {
      const given = Object.entries(globs).find(([, v]) => v.length > 0);
      if (given) c.fail(`${field}.${given[0]}`, 'cannot be combined with "profile": the profile already holds the keep set (give it to the slim build that writes the profile)');
    }
    functions.push({ name, image, recording, tag, field, ...globs, ...(profile === undefined ? {} : { profile: resolve(profile) }), ...(singleTag === undefined ? {} : { singleTag }) });
  }
  for (const [i, f] of functions.entries()) {
    const earlier = functions.slice(0, i);
    const sameName = earlier.find((g) => g.name === f.name);
    if (sameName) c.fail(`${f.field}.name`, `${f.name} is also ${sameName.field}'s name (give each function its own "name")`);
    const sameTag = earlier.find((g) => g.tag === f.tag || g.image === f.tag || f.image === g.tag);
    if (sameTag) c.fail(`${f.field}.tag`, `${f.tag} clashes with ${sameTag.field} (each function needs its own tag, and no tag may name another function's image)`);
  }
  return { file, functions, layerBudget };
}
