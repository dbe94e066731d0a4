/**
 * The first class (or module) a JVM says it could not find, in the slim run's answers and logs:
 * `java.lang.NoClassDefFoundError: java/sql/Date`, `ClassNotFoundException: x.Y`, `Module jdk.x not found`.
 */
export function missingClassIn(texts: Iterable<string>): string | undefined {
  for (const text of texts) {
    const cls = /(?:NoClassDefFoundError|ClassNotFoundException)\s*:?\s*([A-Za-z_$][\w$]*(?:[./][A-Za-z_$][\w$]*)+)/.exec(text);
    if (cls) return cls[1]!.replaceAll('/', '.');
    const mod = /Module (\S+) not found/.exec(text);
    if (mod) return `module ${mod[1]}`;
  }
  return undefined;
}
