import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inputError, SlimError } from '../errors.js';
import type { ImageFs } from '../image/image-fs.js';
import type { Image } from '../image/types.js';
import type { Recording } from '../recording/types.js';
import { recordClassLoads } from './class-load-run.js';
import { parseJdepsClassDeps } from './jdeps-output.js';
import { dpkgVersion, findJavaHomes, jdkPackageFor } from './java-home.js';
import { JdkContainer } from './jdk-container.js';
import { JlinkCache, jdepsKey, runtimeKey } from './jlink-cache.js';
import { chooseModules, releaseModules, releaseVersion, type ModuleChoice } from './module-choice.js';

/** A file of the slim image whose content comes from elsewhere than the original image. */
export interface ReplacedFile {
  file: string;
  size: number;
}

export interface JlinkedRuntime {
  javaHome: string;
  javaVersion: string | undefined;
  /** the JDK that linked it: Debian package=version, the same build as the image's JRE */
  jdk: string;
  /** the root modules given to jlink, each with why */
  modules: ModuleChoice[];
  /** every module of the reduced runtime, with those jlink added for `requires` */
  linked: string[];
  locales: string[];
  /** kept path → its reduced replacement (lib/modules, the CDS archives, release) */
  replacements: Map<string, ReplacedFile>;
  /** the linked files came from the cache of an earlier build (byte for byte what that build linked) */
  fromCache: boolean;
  warnings: string[];
}

export interface JlinkInput {
  image: Image;
  fs: ImageFs;
  /** the paths the slim image keeps */
  kept: Set<string>;
  owners: Map<string, string>;
  recording: Recording;
  extraModules: string[];
  /** where the replacement files are written */
  workDir: string;
  log: (line: string) => void;
}

const JLINK_OUT = '/tmp/slim-jlink-runtime';
const CDS_ARCHIVES = [
  { file: 'lib/server/classes.jsa', flags: '' },
  { file: 'lib/server/classes_nocoops.jsa', flags: '-XX:-UseCompressedOops' },
];

function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** Refuses --jvm-jlink before any tracing when the image holds no Java runtime at all. */
export function requireJavaRuntime(fs: ImageFs, allPaths: Iterable<string>, reference: string): void {
  if (findJavaHomes(allPaths, (p) => fs.lstat(p) !== undefined).length > 0) return;
  throw inputError(`--jvm-jlink: image ${reference} holds no Java runtime (no DIR/lib/modules beside DIR/release and DIR/bin/java)`, 'build without --jvm-jlink');
}

async function locateRuntime(input: JlinkInput): Promise<Runtime> {
  const homes = findJavaHomes(input.kept, (p) => input.fs.lstat(p) !== undefined);
  if (homes.length === 0) {
    throw inputError(`--jvm-jlink: the recorded run of ${input.image.reference} used no Java runtime (no JAVA_HOME/lib/modules was opened)`, 'build without --jvm-jlink');
  }
  if (homes.length > 1) throw inputError(`--jvm-jlink: the run used ${homes.length} Java runtimes (${homes.map((h) => h.path).join(', ')}); slim links one`);
  const home = homes[0]!;
  const release = (await input.fs.readFile(`${home.path}/release`))?.toString('utf8') ?? '';
  const owner = input.owners.get(home.modules);
  const jdkPackage = owner && jdkPackageFor(owner);
  if (!jdkPackage) {
    throw inputError(
      `--jvm-jlink: the Java runtime at ${home.path} is ${owner ? `from Debian's ${owner}, which has no matching JDK package` : 'not from a Debian package'}; slim links with the JDK of exactly the same build`,
      "use Debian's openjdk-NN-jre-headless in the image, or build without --jvm-jlink",
    );
  }
  const status = (await input.fs.readFile('/var/lib/dpkg/status'))?.toString('utf8') ?? '';
  const version = dpkgVersion(status, owner!);
  if (!version) throw inputError(`--jvm-jlink: dpkg's status in ${input.image.reference} lists no installed version of ${owner}`, 'is /var/lib/dpkg/status kept in the image?');
  // an archive the app keeps of its own (AppCDS, a dynamic archive) was dumped against the old modules file
  const ownArchives = [...input.kept].filter((p) => p.endsWith('.jsa') && !CDS_ARCHIVES.some((a) => p === `${home.path}/${a.file}`));
  if (ownArchives.length > 0) {
    throw inputError(
      `--jvm-jlink: the run uses a CDS archive of its own (${ownArchives.join(', ')}), dumped against the JRE's full lib/modules; a linked runtime would make the JVM refuse it`,
      'build without --jvm-jlink, or dump that archive again from the slim image',
    );
  }
  return { home: home.path, release, jdkPackage, version, jdk: `${jdkPackage}=${version}` };
}

interface Runtime {
  home: string;
  release: string;
  jdkPackage: string;
  version: string;
  jdk: string;
}

/**
 * The build container with the JDK installed, made on first use: with every jdeps result and the linked
 * runtime in the cache, no container is made and nothing is installed.
 */
class JdkOnDemand {
  private started?: Promise<JdkContainer>;
  constructor(
    private readonly input: JlinkInput,
    private readonly runtime: Runtime,
  ) {}

  get(): Promise<JdkContainer> {
    this.started ??= this.install();
    return this.started;
  }

  private async install(): Promise<JdkContainer> {
    const { input } = this;
    const { home, jdkPackage, version, jdk } = this.runtime;
    input.log(`--jvm-jlink: installing ${jdk} in a build container made from the image`);
    const container = await JdkContainer.start(input.image.id);
    try {
      const offered = await container.run(`apt-get update -qq >/dev/null && apt-cache madison ${quote(jdkPackage)}`);
      const versions = offered.output.split('\n').map((l) => l.split('|')[1]?.trim()).filter((v): v is string => Boolean(v));
      if (offered.code !== 0 || !versions.includes(version)) {
        throw new SlimError(
          offered.code !== 0
            ? `--jvm-jlink: apt in a container made from ${input.image.reference} cannot read its package lists (exit ${offered.code}):\n${lastLines(offered.output, 10)}`
            : `--jvm-jlink: the image's apt sources no longer offer ${jdk}, the JDK of the image's JRE build (they offer ${versions.join(', ') || 'no version'})`,
          undefined,
          offered.code !== 0 ? 'the build container uses the host network: is the apt archive reachable?' : `rebuild the image on the current ${input.owners.get(`${home}/lib/modules`)} (apt-get upgrade), then slim it`,
        );
      }
      const install = await container.run(`export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends ${quote(jdk)}`);
      if (install.code !== 0) {
        throw new SlimError(`--jvm-jlink: cannot install ${jdk} in a container made from ${input.image.reference} (exit ${install.code}):\n${lastLines(install.output, 15)}`);
      }
      const tools = await container.run(`test -x ${quote(`${home}/bin/jlink`)} && test -d ${quote(`${home}/jmods`)}`);
      if (tools.code !== 0) throw new SlimError(`--jvm-jlink: ${jdk} installed no ${home}/bin/jlink or ${home}/jmods (the JMOD files may be packaged apart in this release)`);
      return container;
    } catch (err) {
      await container.remove();
      throw err;
    }
  }

  async remove(): Promise<void> {
    if (this.started) await (await this.started.catch(() => undefined))?.remove();
  }
}

/** jdeps -verbose:class of each jar the run loaded classes from, from the cache or run in the JDK container. */
async function jarDependencies(input: JlinkInput, runtime: Runtime, jars: Map<string, Set<string>>, jdk: JdkOnDemand, cache: JlinkCache, warnings: string[]) {
  const deps = new Map<string, Map<string, Set<string>>>();
  const major = releaseVersion(runtime.release)?.split('.')[0];
  const feature = major && /^\d+$/.test(major) ? major : 'base';
  for (const jar of [...jars.keys()].sort()) {
    const content = await input.fs.readFile(jar);
    const key = content && jdepsKey(runtime.jdk, feature, createHash('sha256').update(content).digest('hex'));
    let output = key && (await cache.jdeps(key));
    if (!output) {
      const container = await jdk.get();
      const result = await container.run(`${quote(`${runtime.home}/bin/jdeps`)} -verbose:class --multi-release ${feature} --ignore-missing-deps ${quote(jar)}`);
      if (result.code !== 0) {
        warnings.push(`jdeps could not read ${jar}: ${lastLines(result.output, 1)}`);
        continue;
      }
      output = result.output;
      if (key) await cache.putJdeps(key, output).catch((err: Error) => warnings.push(`cannot write the jlink cache at ${cache.root}: ${err.message}`));
    }
    const parsed = parseJdepsClassDeps(output);
    // a Spring Boot jar nests its libraries: jdeps reads only the outer jar's own classes
    if (![...jars.get(jar)!].some((c) => parsed.has(c))) warnings.push(`jdeps found none of the classes the run loaded from ${jar} (nested jars?): only the class-load log chose modules for it`);
    deps.set(jar, parsed);
  }
  return deps;
}

/** Links the runtime in the JDK container and copies its files out: cache entry name → host file. */
async function link(container: JdkContainer, runtime: Runtime, selection: { modules: ModuleChoice[]; locales: string[] }, archives: typeof CDS_ARCHIVES, files: Map<string, string>, target: (name: string) => string) {
  const { home } = runtime;
  const script = [
    'set -e',
    `rm -rf ${JLINK_OUT}`,
    [
      quote(`${home}/bin/jlink`),
      `--module-path ${quote(`${home}/jmods`)}`,
      `--add-modules ${selection.modules.map((m) => m.name).join(',')}`,
      selection.locales.length ? `--include-locales=${selection.locales.join(',')}` : '',
      // --strip-debug would also strip native symbols with objcopy, which the image need not have; only lib/modules is taken
      `--strip-java-debug-attributes --no-man-pages --no-header-files --output ${JLINK_OUT}`,
    ].filter(Boolean).join(' '),
    // the CDS archive must be dumped against the modules file it will run with, at its own path
    `cp ${JLINK_OUT}/lib/modules ${quote(`${home}/lib/modules`)}`,
    ...archives.map((a) => `${quote(`${home}/bin/java`)} ${a.flags} -Xshare:dump -XX:SharedArchiveFile=${quote(`${home}/${a.file}`)} >/dev/null`),
    `cat ${JLINK_OUT}/release`,
  ].join('\n');
  const linked = await container.run(script);
  if (linked.code !== 0) throw new SlimError(`--jvm-jlink: jlink failed (exit ${linked.code}):\n${lastLines(linked.output, 15)}`);
  for (const [name, path] of files) await container.copyOut(name === 'release' ? `${JLINK_OUT}/release` : path, target(name));
  return linked.output;
}

/**
 * Links a Java runtime that holds only the modules the function uses, with the JDK of the image's own
 * build in a throwaway container, and returns the files that replace the JRE's in the slim image. A runtime
 * linked before for the same JDK, modules and locales comes from the cache, byte for byte.
 */
export async function jlinkRuntime(input: JlinkInput, cache = new JlinkCache()): Promise<JlinkedRuntime> {
  const runtime = await locateRuntime(input);
  const { home, release, jdk } = runtime;
  const warnings: string[] = [];
  input.log('--jvm-jlink: replaying the recording once more, logging the classes the JVM loads');
  const log = await recordClassLoads(input.image.id, input.image.config.config?.Env ?? [], input.recording);

  const container = new JdkOnDemand(input, runtime);
  try {
    const jdeps = await jarDependencies(input, runtime, log.jars, container, cache, warnings);
    const selection = chooseModules({ log, jdeps, available: releaseModules(release), extra: input.extraModules });
    for (const m of selection.unavailable) warnings.push(`module ${m} is not in the image's runtime at ${home}`);
    const archives = CDS_ARCHIVES.filter((a) => input.kept.has(`${home}/${a.file}`));

    // cache entry name → the path it replaces in the image
    const files = new Map<string, string>();
    for (const relative of ['lib/modules', ...archives.map((a) => a.file), 'release']) {
      if (input.kept.has(`${home}/${relative}`)) files.set(relative.replaceAll('/', '_'), `${home}/${relative}`);
    }
    const target = (name: string) => join(input.workDir, `jlink-${name}`);
    const key = runtimeKey({ jdk, javaHome: home, modules: selection.modules.map((m) => m.name), locales: selection.locales, archives: archives.map((a) => a.file) });
    let fromCache = true;
    let linkedRelease = (await cache.runtime(key, target))?.text;
    if (linkedRelease !== undefined) input.log(`--jvm-jlink: the runtime of these ${selection.modules.length} modules was linked before: taken from ${cache.root}`);
    else {
      fromCache = false;
      input.log(`--jvm-jlink: linking ${selection.modules.length} modules with jlink`);
      linkedRelease = await link(await container.get(), runtime, selection, archives, files, target);
      const stored = new Map([...files.keys()].map((name) => [name, target(name)]));
      await cache.putRuntime(key, stored, linkedRelease).catch((err: Error) => warnings.push(`cannot write the jlink cache at ${cache.root}: ${err.message}`));
    }

    const replacements = new Map<string, ReplacedFile>();
    for (const [name, path] of files) replacements.set(path, { file: target(name), size: (await stat(target(name))).size });
    return {
      javaHome: home,
      javaVersion: releaseVersion(release),
      jdk,
      modules: selection.modules,
      linked: releaseModules(linkedRelease),
      locales: selection.locales,
      replacements,
      fromCache,
      warnings,
    };
  } finally {
    await container.remove();
  }
}
