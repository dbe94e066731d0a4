import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { FLEET_PLAN_DEFAULTS, planFleet, type FleetFunctionInput, type FleetPlan, type PinnedState } from '../../src/plan/fleet-plan.js';
import { parentsOf } from '../../src/plan/plan.js';

/**
 * One folder per case under test/unit/fleet-plan-cases/: `input.json` and `expected.json`.
 *
 * input.json: `functions` by name, each with `keeps` (path → key of a shareable kept file), `app` (kept paths
 * that are never shared), `alsoHas` (path → key of files its original has but it does not keep) and `dirs`
 * (path → key of directories whose key is not the default `dir`); keys are `NAME:BYTES` for files and
 * `dir...` for directories. Every parent directory is in each original, as `dir` unless `dirs` says so.
 * Optional: `budget`, `minLayerBytes`, `minPopularity`, and `pinned` ({layers: [{id, parent, members, files,
 * delta}], functions: name → layer ids}), whose layers get their parent directories as `dir`.
 *
 * expected.json: `layers` ([{id, parent, members, files (non-directory paths), pinned?, delta?}]) and
 * `functions` (name → {layers, own (shareable paths not provided), whiteouts?, directoryOverrides?}).
 */
interface CaseFunction {
  keeps?: Record<string, string>;
  app?: string[];
  /** kept directories (traced listings), which shared layers may provide */
  keptDirs?: string[];
  alsoHas?: Record<string, string>;
  dirs?: Record<string, string>;
}

interface CaseInput {
  description?: string;
  budget?: number;
  minLayerBytes?: number;
  minPopularity?: number;
  functions: Record<string, CaseFunction>;
  pinned?: { layers: Array<{ id: string; parent: string | null; members: string[]; files: Record<string, string>; delta?: boolean }>; functions: Record<string, string[]> };
}

interface CaseExpected {
  layers: Array<{ id: string; parent: string | null; members: string[]; files: string[]; pinned?: boolean; delta?: boolean }>;
  functions: Record<string, { layers: string[]; own: string[]; whiteouts?: string[]; directoryOverrides?: string[] }>;
}

const casesDir = new URL('../../../test/unit/fleet-plan-cases/', import.meta.url);
const isDirectory = (key: string) => key.startsWith('dir');
const bytesOf = (key: string) => (isDirectory(key) ? 0 : Number(key.split(':')[1] ?? 0));

function withParents(files: Record<string, string>, dirs: Record<string, string> = {}): Map<string, string> {
  const all = new Map<string, string>();
  for (const [path, key] of Object.entries(files)) {
    for (const dir of parentsOf(path)) all.set(dir, dirs[dir] ?? 'dir');
    all.set(path, key);
  }
  return all;
}

function functionInput(name: string, f: CaseFunction): FleetFunctionInput {
  const shareable = new Map(Object.entries(f.keeps ?? {}));
  const appFiles = Object.fromEntries((f.app ?? []).map((p) => [p, `app-${name}:1`]));
  return {
    name,
    shareable,
    kept: new Set([...shareable.keys(), ...(f.app ?? []), ...(f.keptDirs ?? [])]),
    original: withParents({ ...(f.alsoHas ?? {}), ...(f.keeps ?? {}), ...appFiles }, f.dirs),
  };
}

function pinnedState(input: CaseInput['pinned']): PinnedState | undefined {
  if (!input) return undefined;
  return {
    layers: input.layers.map((l) => ({
      id: l.id,
      parent: l.parent,
      members: l.members,
      delta: l.delta ?? false,
      entries: [...withParents(l.files)].map(([path, key]) => ({ path, key })).sort((a, b) => (a.path < b.path ? -1 : 1)),
    })),
    functions: new Map(Object.entries(input.functions)),
  };
}

function summary(plan: FleetPlan): CaseExpected {
  return {
    layers: plan.layers.map((l) => ({
      id: l.id,
      parent: l.parent,
      members: l.members,
      files: l.entries.filter((e) => !isDirectory(e.key)).map((e) => e.path),
      ...(l.pinned ? { pinned: true } : {}),
      ...(l.delta ? { delta: true } : {}),
    })),
    functions: Object.fromEntries(plan.functions.map((f) => [f.name, { layers: f.layers, own: [], whiteouts: f.whiteouts, directoryOverrides: f.directoryOverrides }])),
  };
}

function viewOf(plan: FleetPlan, chain: string[]): Map<string, string> {
  const view = new Map<string, string>();
  for (const id of chain) for (const e of plan.layers.find((l) => l.id === id)!.entries) view.set(e.path, e.key);
  return view;
}

describe('fleet planner cases', () => {
  for (const name of readdirSync(casesDir).sort()) {
    const input = JSON.parse(readFileSync(new URL(`${name}/input.json`, casesDir), 'utf8')) as CaseInput;
    const expected = JSON.parse(readFileSync(new URL(`${name}/expected.json`, casesDir), 'utf8')) as CaseExpected;
    test(`${name}${input.description ? `: ${input.description}` : ''}`, () => {
      const functions = Object.entries(input.functions).map(([n, f]) => functionInput(n, f));
      const plan = planFleet(functions, {
        budget: input.budget ?? FLEET_PLAN_DEFAULTS.budget,
        minLayerBytes: input.minLayerBytes ?? 0,
        minPopularity: input.minPopularity ?? FLEET_PLAN_DEFAULTS.minPopularity,
        bytesOf,
        isDirectory,
        pinned: pinnedState(input.pinned),
      });
      const actual = summary(plan);
      assert.deepEqual(actual.layers, expected.layers, 'shared layers');
      for (const f of plan.functions) {
        const want = expected.functions[f.name];
        assert.ok(want, `expected.json lists ${f.name}`);
        const input = functions.find((x) => x.name === f.name)!;
        const own = [...input.shareable.keys()].filter((p) => !f.provided.has(p)).sort();
        for (const dir of input.kept) if (isDirectory(input.original.get(dir) ?? '')) assert.equal(f.provided.has(dir), input.original.get(dir) === viewOf(plan, f.layers).get(dir), `${f.name}: kept directory ${dir} is provided when a shared layer holds it as the original has it`);
        assert.deepEqual(
          { layers: f.layers, own, whiteouts: f.whiteouts, directoryOverrides: f.directoryOverrides },
          { layers: want.layers, own: want.own, whiteouts: want.whiteouts ?? [], directoryOverrides: want.directoryOverrides ?? [] },
          f.name,
        );
      }
      assert.equal(plan.functions.length, Object.keys(expected.functions).length);
      // every layer a function stands on sits directly on the one below it
      const byId = new Map(plan.layers.map((l) => [l.id, l]));
      for (const f of plan.functions) f.layers.forEach((id, i) => assert.equal(byId.get(id)!.parent, i === 0 ? null : f.layers[i - 1], `${f.name}: ${id} stands on the layer below`));
    });
  }
});
