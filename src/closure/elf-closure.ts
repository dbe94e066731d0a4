import type { ImageFs, ResolvedPath } from '../image/image-fs.js';
import { DF_1_NODEFLIB, readElfDynamic, type ElfDynamicInfo } from './elf-dynamic.js';
import { libTokenValues, systemSearchDirs, type LoaderFlavor, type SystemSearchDirs } from './ld-config.js';

export type ElfClosureReason = 'elf-interpreter' | 'elf-needed';

export interface ElfClosureEntry {
  reason: ElfClosureReason;
  /** the object that asked for it: a root as given, or a library's real path */
  from: string;
}

export interface MissingLibrary {
  /** the DT_NEEDED name (or interpreter / preload path) that nothing in the image satisfies */
  name: string;
  from: string;
}

export interface ElfClosure {
  /**
   * Every file the roots need to start, in load order: interpreters and libraries (their real paths)
   * and every symlink passed on the way to them (directory symlinks such as `/lib` included). The roots
   * themselves are not in it.
   */
  files: Map<string, ElfClosureEntry>;
  missing: MissingLibrary[];
  /** ELF files that could not be read completely, roots that do not exist */
  problems: string[];
}

export interface ElfClosureOptions {
  /** the image's Env (`KEY=value`): LD_LIBRARY_PATH and LD_PRELOAD count */
  env?: string[];
}

/** A loaded object of one simulated process (glibc's link_map). */
interface LoadedObject {
  /** the root as given, or the library's real path */
  display: string;
  info: ElfDynamicInfo;
  /** the object whose DT_NEEDED loaded this one first (l_loader) */
  loader?: LoadedObject;
  /** names it answers to: the names it was asked for, and (glibc) its SONAME */
  names: Set<string>;
  realPath: string;
  /** what `$ORIGIN` stands for in its paths */
  origin: string;
}

interface Process {
  main: LoadedObject;
  flavor: LoaderFlavor;
  system: SystemSearchDirs;
  loaded: LoadedObject[];
  interpreter?: LoadedObject;
}

/** musl's loader answers for these names itself (libc.so, libpthread.so.0, libm.so.6, ...). */
const MUSL_BUILTIN = /^lib(c|pthread|rt|m|dl|util|xnet)\.so/;

/**
 * The shared libraries a set of executables needs, resolved the way the dynamic loader does it for each
 * root started as a process: its interpreter, LD_PRELOAD, then DT_NEEDED breadth first, each name
 * searched in DT_RPATH (of the loading object and its loaders, unless the loading object has
 * DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, the ld.so.conf dirs and the default dirs (musl: the
 * LD_LIBRARY_PATH, the RPATH/RUNPATH chain, then its path file or defaults). A candidate counts when
 * it is a regular file in the image and an ELF object of the root's class and machine.
 */
export async function elfClosure(roots: string[], fs: ImageFs, options: ElfClosureOptions = {}): Promise<ElfClosure> {
  const closure: ElfClosure = { files: new Map(), missing: [], problems: [] };
  const env = parseEnv(options.env ?? []);
  const infos = new Map<string, Promise<ElfDynamicInfo | undefined>>();
  const systems = new Map<string, Promise<SystemSearchDirs>>();
  const reported = new Set<string>();

  const readInfo = (realPath: string): Promise<ElfDynamicInfo | undefined> => {
    let info = infos.get(realPath);
    if (!info) {
      info = fs.open(realPath).then(async (file) => {
        const parsed = file ? await readElfDynamic(file).catch(() => undefined) : undefined;
        for (const problem of parsed?.problems ?? []) closure.problems.push(`${realPath}: ${problem}`);
        return parsed;
      });
      infos.set(realPath, info);
    }
    return info;
  };
  const addFiles = (resolved: ResolvedPath, reason: ElfClosureReason, from: string): void => {
    for (const path of [...resolved.links, resolved.path]) {
      if (!closure.files.has(path)) closure.files.set(path, { reason, from });
    }
  };
  const addMissing = (name: string, from: string): void => {
    const key = `${name}\0${from}`;
    if (reported.has(key)) return;
    reported.add(key);
    closure.missing.push({ name, from });
  };

  /** The object at a candidate path, when it is a compatible ELF file. */
  const openCandidate = async (path: string, process: Process): Promise<{ resolved: ResolvedPath; info: ElfDynamicInfo } | undefined> => {
    const resolved = fs.resolve(path);
    if (resolved.record?.type !== 'file' && resolved.record?.type !== 'hardlink') return undefined;
    const info = await readInfo(resolved.path);
    const main = process.main.info;
    if (!info || info.bits !== main.bits || info.endian !== main.endian || info.machine !== main.machine) return undefined;
    return { resolved, info };
  };

  const search = async (name: string, loader: LoadedObject, process: Process) => {
    for (const path of candidatePaths(name, loader, process, env)) {
      const candidate = await openCandidate(path, process);
      if (candidate) return { path, ...candidate };
    }
    return undefined;
  };

  const load = async (name: string, loader: LoadedObject, process: Process): Promise<LoadedObject | undefined> => {
    const known = process.loaded.find((o) => o.names.has(name));
    if (known) return known;
    if (process.flavor.libc === 'musl' && MUSL_BUILTIN.test(name) && process.interpreter) return process.interpreter;
    const found = await search(name, loader, process);
    if (!found) {
      addMissing(name, loader.display);
      return undefined;
    }
    addFiles(found.resolved, 'elf-needed', loader.display);
    const same = process.loaded.find((o) => o.realPath === found.resolved.path);
    if (same) {
      same.names.add(name);
      return same;
    }
    const object: LoadedObject = {
      display: found.resolved.path,
      info: found.info,
      loader,
      names: namesOf(name, found.info, process.flavor),
      realPath: found.resolved.path,
      origin: dirname(found.path),
    };
    process.loaded.push(object);
    return object;
  };

  for (const root of roots) {
    const resolved = fs.resolve(root);
    if (resolved.record?.type !== 'file' && resolved.record?.type !== 'hardlink') {
      closure.problems.push(`${root}: not a regular file in the image`);
      continue;
    }
    const info = await readInfo(resolved.path);
    if (!info || !info.dynamic) continue; // not ELF (a script), or statically linked
    let system = systems.get(info.interpreter ?? '');
    if (!system) {
      system = systemSearchDirs(fs, info.interpreter ?? muslLoaderIn(fs));
      systems.set(info.interpreter ?? '', system);
    }
    const main: LoadedObject = {
      display: root,
      info,
      names: new Set(),
      realPath: resolved.path,
      // an executable's $ORIGIN comes from /proc/self/exe (the real path); a library's from where it was found
      origin: dirname(info.interpreter !== undefined ? resolved.path : root),
    };
    const process: Process = { main, flavor: (await system).flavor, system: await system, loaded: [main] };

    if (info.interpreter !== undefined) {
      const interp = fs.resolve(info.interpreter);
      if (interp.record?.type === 'file' || interp.record?.type === 'hardlink') {
        addFiles(interp, 'elf-interpreter', root);
        const interpInfo = await readInfo(interp.path);
        if (interpInfo) {
          process.interpreter = {
            display: interp.path,
            info: interpInfo,
            names: namesOf(info.interpreter, interpInfo, process.flavor),
            realPath: interp.path,
            origin: dirname(info.interpreter),
          };
          process.loaded.push(process.interpreter);
        }
      } else {
        addMissing(info.interpreter, root);
      }
    }

    const queue: LoadedObject[] = [main];
    for (const name of preloads(env, process.flavor, await fs.readFile('/etc/ld.so.preload'))) {
      const object = await load(name, main, process);
      if (object && !queue.includes(object) && object !== process.interpreter) queue.push(object);
    }
    for (let i = 0; i < queue.length; i++) {
      const object = queue[i]!;
      for (const name of object.info.needed) {
        const lib = await load(name, object, process);
        if (lib && !queue.includes(lib) && lib !== process.interpreter) queue.push(lib);
      }
    }
  }
  closure.problems = [...new Set(closure.problems)];
  return closure;
}

/** The paths ld.so tries for one DT_NEEDED name, in order (duplicates included: they are cheap). */
function* candidatePaths(name: string, loader: LoadedObject, process: Process, env: Map<string, string>): Generator<string> {
  const { flavor, main } = process;
  if (name.includes('/')) {
    for (const path of expandTokens(name, loader.origin, flavor)) if (path.startsWith('/')) yield path;
    return;
  }
  const inDirs = function* (dirs: Iterable<string>): Generator<string> {
    for (const dir of dirs) if (dir.startsWith('/')) yield dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
  };
  const libraryPath = env.get('LD_LIBRARY_PATH') ?? '';
  const envDirs = libraryPath.split(flavor.libc === 'musl' ? /:/ : /[:;]/).flatMap((dir) => expandTokens(dir, main.origin, flavor));

  if (flavor.libc === 'musl') {
    yield* inDirs(envDirs);
    for (let o: LoadedObject | undefined = loader; o; o = o.loader) yield* inDirs(searchPath(o.info.runpath ?? o.info.rpath, o, flavor));
    yield* inDirs(process.system.defaults);
    return;
  }
  if (loader.info.runpath === undefined) {
    // glibc ignores DT_RPATH of an object that has DT_RUNPATH
    for (let o: LoadedObject | undefined = loader; o; o = o.loader) {
      if (o.info.runpath === undefined) yield* inDirs(searchPath(o.info.rpath, o, flavor));
    }
  }
  yield* inDirs(envDirs);
  yield* inDirs(searchPath(loader.info.runpath, loader, flavor));
  if (loader.info.flags1 !== undefined && (loader.info.flags1 & DF_1_NODEFLIB) !== 0) return;
  yield* inDirs(process.system.configured);
  yield* inDirs(process.system.defaults);
}

/** The directories of an RPATH/RUNPATH string, tokens expanded for the object that holds it. */
function searchPath(value: string | undefined, object: LoadedObject, flavor: LoaderFlavor): string[] {
  if (value === undefined) return [];
  return value.split(':').flatMap((dir) => expandTokens(dir, object.origin, flavor));
}

/**
 * Expands `$ORIGIN`, and for glibc `$LIB` (to each of its possible values) and `$PLATFORM`, in either
 * `$NAME` or `${NAME}` form. Unknown tokens stay as they are.
 */
export function expandTokens(path: string, origin: string, flavor: LoaderFlavor): string[] {
  let results = [''];
  const token = /\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))/g;
  let last = 0;
  for (let m = token.exec(path); m; m = token.exec(path)) {
    const name = m[1] ?? m[2]!;
    let values: string[];
    if (name === 'ORIGIN') values = [origin];
    else if (flavor.libc === 'musl') values = [m[0]];
    else values = name === 'LIB' ? libTokenValues(flavor) : [flavor.arch];
    const before = path.slice(last, m.index);
    results = results.flatMap((r) => values.map((v) => r + before + v));
    last = m.index + m[0].length;
  }
  const rest = path.slice(last);
  return results.map((r) => r + rest);
}

/** A library root has no interpreter to tell its libc: a musl loader in /lib says musl. */
function muslLoaderIn(fs: ImageFs): string | undefined {
  const name = fs.list('/lib').find((n) => /^ld-musl-.+\.so\.\d+$/.test(n));
  return name === undefined ? undefined : `/lib/${name}`;
}

function namesOf(name: string, info: ElfDynamicInfo, flavor: LoaderFlavor): Set<string> {
  const names = new Set([name]);
  if (flavor.libc === 'glibc' && info.soname !== undefined) names.add(info.soname);
  return names;
}

/** LD_PRELOAD (spaces or colons) and, for glibc, /etc/ld.so.preload (whitespace). */
function preloads(env: Map<string, string>, flavor: LoaderFlavor, preloadFile: Buffer | undefined): string[] {
  const names = (env.get('LD_PRELOAD') ?? '').split(/[\s:]+/);
  if (flavor.libc === 'glibc' && preloadFile) names.push(...preloadFile.toString('utf8').replace(/#.*/g, '').split(/\s+/));
  return [...new Set(names.filter((n) => n !== ''))];
}

function parseEnv(env: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
