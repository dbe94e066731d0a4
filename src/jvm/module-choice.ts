import type { ClassLoadLog } from './class-load-log.js';

/** A module of the reduced runtime and why it is there; the modules jlink adds for `requires` are not listed. */
export interface ModuleChoice {
  name: string;
  why: string;
}

export interface ModuleSelection {
  modules: ModuleChoice[];
  /** `--include-locales` for jlink when jdk.localedata is in the runtime */
  locales: string[];
  /** modules the run or jdeps named that the image's runtime does not have */
  unavailable: string[];
}

export interface ModuleEvidence {
  log: ClassLoadLog;
  /** per jar: each class of it → the JDK modules its code refers to (`jdeps -verbose:class`) */
  jdeps: Map<string, Map<string, Set<string>>>;
  /** the modules of the image's runtime (its `release` file's MODULES) */
  available: string[];
  /** asked for by the user */
  extra: string[];
}

const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** A Java module name (dotted identifiers), the only text that reaches jlink's command line. */
export function isModuleName(name: string): boolean {
  return MODULE_NAME.test(name);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The root modules for jlink: every module the recorded run loaded a class from, every module a class
 * the run loaded from the class path refers to (so a method the recording did not reach still links),
 * and the user's extra modules. java.base is always in.
 */
export function chooseModules(evidence: ModuleEvidence): ModuleSelection {
  const available = new Set(evidence.available);
  const why = new Map<string, string>();
  const unavailable = new Set<string>();
  const add = (name: string, reason: string) => {
    if (why.has(name)) return;
    // names come from files the function could write: only module names reach jlink's command line
    if (!isModuleName(name) || (available.size > 0 && !available.has(name))) unavailable.add(name);
    else why.set(name, reason);
  };
  add('java.base', 'the runtime itself');
  for (const [name, use] of [...evidence.log.modules].sort(([a], [b]) => (a < b ? -1 : 1))) {
    add(name, `the recorded run loaded ${use.classes} class${use.classes === 1 ? '' : 'es'} from it (first ${use.first})`);
  }
  for (const [jar, classes] of [...evidence.jdeps].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const loaded = evidence.log.jars.get(jar) ?? new Set<string>();
    const referrers = new Map<string, string[]>();
    for (const [cls, modules] of [...classes].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!loaded.has(cls)) continue;
      for (const m of modules) referrers.set(m, [...(referrers.get(m) ?? []), cls]);
    }
    for (const [m, by] of [...referrers].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const n = by.length;
      add(m, `jdeps: ${n} class${n === 1 ? '' : 'es'} the run loaded from ${basename(jar)} refer${n === 1 ? 's' : ''} to it (first ${by[0]})`);
    }
  }
  for (const name of evidence.extra) add(name, 'asked for with --jvm-add-modules');
  const modules = [...why].map(([name, reason]) => ({ name, why: reason })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const locales = why.has('jdk.localedata') ? [...new Set(['en', ...evidence.log.locales])].sort() : [];
  return { modules, locales, unavailable: [...unavailable].sort() };
}

/** The MODULES list of a runtime's `release` file (`MODULES="java.base java.logging ..."`). */
export function releaseModules(release: string): string[] {
  const m = /^MODULES="?([^"\n]*)"?$/m.exec(release);
  return m ? m[1]!.split(/\s+/).filter(Boolean) : [];
}

export function releaseVersion(release: string): string | undefined {
  return /^JAVA_VERSION="?([^"\n]*)"?$/m.exec(release)?.[1];
}
