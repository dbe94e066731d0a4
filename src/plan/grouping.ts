import { globMatcher } from '../glob.js';
import type { FileRecord } from '../image/file-index.js';

export const LAYER_GROUPS = ['system', 'deps', 'app'] as const;
export type LayerGroup = (typeof LAYER_GROUPS)[number];

export const GROUP_TITLES: Record<LayerGroup, string> = {
  system: 'system and runtime',
  deps: 'third-party dependencies',
  app: 'application code',
};

export interface GroupOverride {
  glob: string;
  group: LayerGroup;
}

export interface GroupingOptions {
  /** Debian package of each dpkg-owned path */
  owners: Map<string, string>;
  workingDir: string;
  /** layers at the bottom of the original that came from its base image */
  baseLayers: number;
  overrides: GroupOverride[];
}

export interface GroupDecision {
  group: LayerGroup;
  /** the rule that decided, shown in the profile */
  rule: string;
}

const DEPENDENCY_DIR = /(^|\/)(node_modules|site-packages|dist-packages|vendor|\.venv|bower_components)(\/|$)/;
/** A web server's document root (Debian's Apache and nginx serve /var/www): site content, not system files. */
const WEB_ROOT = /^\/var\/www\/./;
const SYSTEM_PREFIX = /^\/(usr|lib|lib32|lib64|libx32|bin|sbin|etc|var|run)(\/|$)/;

/** Parses `GLOB=GROUP` as given to --group. */
export function parseGroupOverride(text: string): GroupOverride | undefined {
  const eq = text.lastIndexOf('=');
  if (eq <= 0) return undefined;
  const group = text.slice(eq + 1) as LayerGroup;
  if (!LAYER_GROUPS.includes(group)) return undefined;
  return { glob: text.slice(0, eq), group };
}

/**
 * Sorts paths into layers by how often they change, most stable first. The first rule that matches
 * decides: the user's --group globs; files of Debian packages and of the base image's layers are the
 * system; dependency directories (node_modules, site-/dist-packages, vendor) are deps; the working
 * directory, what no package owns under the web root /var/www, and everything outside the system
 * directories is the application.
 */
export function grouper(options: GroupingOptions): (path: string, record: FileRecord) => GroupDecision {
  const overrides = options.overrides.map((o) => ({ ...o, matches: globMatcher(o.glob) }));
  const workingDir = options.workingDir.replace(/\/+$/, '');
  return (path, record) => {
    for (const o of overrides) if (o.matches(path)) return { group: o.group, rule: `--group ${o.glob}=${o.group}` };
    const owner = options.owners.get(path);
    if (owner) return { group: 'system', rule: `Debian package ${owner}` };
    if (DEPENDENCY_DIR.test(path)) return { group: 'deps', rule: `dependency directory ${DEPENDENCY_DIR.exec(path)![2]}` };
    if (record.layer < options.baseLayers) return { group: 'system', rule: `base image layer ${record.layer}` };
    if (workingDir && (path === workingDir || path.startsWith(`${workingDir}/`))) return { group: 'app', rule: `working directory ${workingDir}` };
    if (WEB_ROOT.test(path)) return { group: 'app', rule: 'web server document root /var/www' };
    if (SYSTEM_PREFIX.test(path)) return { group: 'system', rule: 'system directory' };
    return { group: 'app', rule: 'outside the system directories' };
  };
}
