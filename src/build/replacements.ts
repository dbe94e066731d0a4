import { SlimError } from '../errors.js';
import type { Plan, PlannedEntry } from '../plan/plan.js';

/**
 * The plan with some regular files' contents taken from elsewhere (a jlink'd runtime's `lib/modules`):
 * same paths, modes and owners, the new sizes. Paths the plan does not keep are ignored.
 */
export function replaceContents(plan: Plan, replacements: Map<string, { size: number }>): Plan {
  for (const path of replacements.keys()) {
    const entry = plan.entries.get(path);
    if (!entry) continue;
    // the content of a hardlink group is written once, for its first member: replacing one member would
    // change the others, or not happen at all
    const linked = entry.record.type !== 'file' || entry.hardlinkTo !== undefined || [...plan.entries.values()].some((e) => e.hardlinkTo === path);
    if (linked) throw new SlimError(`cannot replace the content of ${path}: it is ${entry.record.type === 'file' ? 'hardlinked to other kept files' : `a ${entry.record.type}`}`);
  }
  const replaced = (entry: PlannedEntry): PlannedEntry => {
    const r = replacements.get(entry.path);
    if (!r || entry.whiteout) return entry;
    return { ...entry, record: { ...entry.record, size: r.size }, rule: `${entry.rule}; content replaced` };
  };
  const layers = plan.layers.map((layer) => {
    const entries = layer.entries.map(replaced);
    const bytes = layer.bytes + entries.reduce((s, e, i) => s + (e.record.size - layer.entries[i]!.record.size), 0);
    return { ...layer, entries, bytes };
  });
  const entries = new Map([...plan.entries].map(([path, entry]) => [path, replaced(entry)]));
  return { ...plan, layers, entries };
}
