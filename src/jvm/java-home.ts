/**
 * A Java runtime in an image: a directory with `lib/modules` (the jimage every JVM opens), `release` and
 * `bin/java`. Found among the paths the slim image keeps, so only a runtime the function used counts.
 */
export interface JavaHome {
  path: string;
  modules: string;
}

export function findJavaHomes(kept: Iterable<string>, exists: (path: string) => boolean): JavaHome[] {
  const homes: JavaHome[] = [];
  for (const path of kept) {
    if (!path.endsWith('/lib/modules')) continue;
    const home = path.slice(0, -'/lib/modules'.length);
    if (exists(`${home}/release`) && exists(`${home}/bin/java`)) homes.push({ path: home, modules: path });
  }
  return homes.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Debian's JDK package for a JRE package of the same build: openjdk-17-jre-headless → openjdk-17-jdk-headless. */
export function jdkPackageFor(jrePackage: string): string | undefined {
  const m = /^openjdk-(\d+)-jre(?:-headless)?$/.exec(jrePackage);
  return m ? `openjdk-${m[1]}-jdk-headless` : undefined;
}

/** The Version of a package in dpkg's status file. */
export function dpkgVersion(status: string, pkg: string): string | undefined {
  for (const stanza of status.split(/\n\n+/)) {
    if (!new RegExp(`^Package: ${pkg.replace(/[.+]/g, '\\$&')}$`, 'm').test(stanza)) continue;
    if (!/^Status: .* installed$/m.test(stanza)) continue;
    return /^Version: (\S+)$/m.exec(stanza)?.[1];
  }
  return undefined;
}
