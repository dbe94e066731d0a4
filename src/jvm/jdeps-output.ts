/**
 * `jdeps -verbose:class` lines: `   com.example.A   -> java.sql.Date   java.sql`, where the module may be
 * tagged `java.base (internal)` or `JDK internal API (jdk.unsupported)`. Returns, for each class of
 * the analysed jars, the JDK modules its code refers to (references into other jars, and "not found", are
 * left out: the jars' own classes are covered by the run's class-load log).
 */
const DEPENDENCY = /^\s+(\S+)\s+->\s+(\S+)\s+(?:JDK internal API \(([\w.]+)\)|([\w.]+)(?: \((?:internal|qualified)\))?)\s*$/;
const JDK_MODULE = /^(?:java|jdk)\.[A-Za-z0-9_.]+$/;

export function parseJdepsClassDeps(text: string): Map<string, Set<string>> {
  const deps = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = DEPENDENCY.exec(line);
    const module = m?.[3] ?? m?.[4];
    if (!m || !module || !JDK_MODULE.test(module)) continue;
    const set = deps.get(m[1]!) ?? new Set<string>();
    set.add(module);
    deps.set(m[1]!, set);
  }
  return deps;
}
