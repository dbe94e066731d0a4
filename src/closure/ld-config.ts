import type { ImageFs } from '../image/image-fs.js';

export type Libc = 'glibc' | 'musl';

/** The C library and architecture a dynamic loader stands for, as far as library search cares. */
export interface LoaderFlavor {
  libc: Libc;
  /** musl's arch name (`x86_64`, `aarch64`), used for `/etc/ld-musl-<arch>.path`; also `$PLATFORM` */
  arch: string;
  /** Debian's multiarch triplet (`x86_64-linux-gnu`), glibc only */
  multiarch?: string;
  /** whether the distribution may keep libraries in lib64 */
  lib64: boolean;
}

/** glibc loaders by file name. */
const GLIBC_LOADERS: Record<string, Omit<LoaderFlavor, 'libc'>> = {
  'ld-linux-x86-64.so.2': { arch: 'x86_64', multiarch: 'x86_64-linux-gnu', lib64: true },
  'ld-linux-aarch64.so.1': { arch: 'aarch64', multiarch: 'aarch64-linux-gnu', lib64: true },
  'ld-linux.so.2': { arch: 'i686', multiarch: 'i386-linux-gnu', lib64: false },
  'ld-linux-armhf.so.3': { arch: 'v7l', multiarch: 'arm-linux-gnueabihf', lib64: false },
  'ld64.so.2': { arch: 'ppc64le', multiarch: 'powerpc64le-linux-gnu', lib64: true },
  'ld64.so.1': { arch: 's390x', multiarch: 's390x-linux-gnu', lib64: true },
};

const DEFAULT_GLIBC: Omit<LoaderFlavor, 'libc'> = GLIBC_LOADERS['ld-linux-x86-64.so.2']!;

/**
 * Tells glibc from musl by the interpreter's name (`ld-musl-*` is musl, anything else, `ld-linux*`
 * included, is taken for glibc). Without an interpreter, glibc on x86-64.
 */
export function loaderFlavor(interpreter: string | undefined): LoaderFlavor {
  const name = interpreter === undefined ? '' : interpreter.slice(interpreter.lastIndexOf('/') + 1);
  const musl = /^ld-musl-(.+)\.so\.\d+$/.exec(name);
  if (musl) return { libc: 'musl', arch: musl[1]!, lib64: false };
  return { libc: 'glibc', ...(GLIBC_LOADERS[name] ?? DEFAULT_GLIBC) };
}

/** The directories the loader searches when nothing else found a library (its built-in list). */
export function defaultLibraryDirs(flavor: LoaderFlavor): string[] {
  if (flavor.libc === 'musl') return ['/lib', '/usr/local/lib', '/usr/lib'];
  const dirs: string[] = [];
  if (flavor.multiarch) dirs.push(`/lib/${flavor.multiarch}`, `/usr/lib/${flavor.multiarch}`);
  if (flavor.lib64) dirs.push('/lib64', '/usr/lib64');
  dirs.push('/lib', '/usr/lib');
  return dirs;
}

/** What `$LIB` expands to: Debian's multiarch dir and the lib64/lib of other distributions. */
export function libTokenValues(flavor: LoaderFlavor): string[] {
  if (flavor.libc === 'musl') return [];
  const values: string[] = [];
  if (flavor.multiarch) values.push(`lib/${flavor.multiarch}`);
  values.push(flavor.lib64 ? 'lib64' : 'lib');
  return values;
}

/**
 * The directories of `/etc/ld.so.conf` (what `ldconfig` puts in the cache), in order: one or more
 * directories per line (separated by spaces, tabs, commas or colons), `#` comments, and `include`
 * lines whose patterns may use `*` in their last component. Relative include patterns are relative to
 * the including file's directory, as ldconfig has it.
 */
export async function ldSoConfDirs(fs: ImageFs, file = '/etc/ld.so.conf'): Promise<string[]> {
  const dirs: string[] = [];
  const seenFiles = new Set<string>();
  const readConf = async (path: string): Promise<void> => {
    if (seenFiles.has(path)) return;
    seenFiles.add(path);
    const content = await fs.readFile(path);
    if (!content) return;
    for (const raw of content.toString('utf8').split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (line === '') continue;
      const include = /^include\s+(.*)$/.exec(line);
      if (include) {
        for (const pattern of include[1]!.split(/\s+/)) {
          const absolute = pattern.startsWith('/') ? pattern : `${dirname(path)}/${pattern}`;
          for (const match of globFiles(fs, absolute)) await readConf(match);
        }
        continue;
      }
      if (line.startsWith('hwcap ')) continue; // old glibc syntax, ignored since 2.26
      for (const dir of line.split(/[\s,:]+/)) {
        const clean = normalizeDir(dir.replace(/=.*$/, '')); // `dir=TYPE` of old ldconfig
        if (clean && !dirs.includes(clean)) dirs.push(clean);
      }
    }
  };
  await readConf(file);
  return dirs;
}

/**
 * musl's `/etc/ld-musl-<arch>.path`: directories separated by newlines or colons. Undefined when the
 * file does not exist (musl then uses its built-in list; when it exists it replaces that list).
 */
export async function muslPathDirs(fs: ImageFs, arch: string): Promise<string[] | undefined> {
  const content = await fs.readFile(`/etc/ld-musl-${arch}.path`);
  if (!content) return undefined;
  const dirs: string[] = [];
  for (const dir of content.toString('utf8').split(/[\n:]+/)) {
    const clean = normalizeDir(dir.trim());
    if (clean && !dirs.includes(clean)) dirs.push(clean);
  }
  return dirs;
}

/** Where the loader looks after the object's own paths: the configured dirs, then the built-in ones. */
export interface SystemSearchDirs {
  flavor: LoaderFlavor;
  /** glibc: the ld.so.conf directories (the cache); musl: none */
  configured: string[];
  /** glibc: the built-in list; musl: the path file's list when it exists, else the built-in list */
  defaults: string[];
}

export async function systemSearchDirs(fs: ImageFs, interpreter: string | undefined): Promise<SystemSearchDirs> {
  const flavor = loaderFlavor(interpreter);
  if (flavor.libc === 'musl') {
    return { flavor, configured: [], defaults: (await muslPathDirs(fs, flavor.arch)) ?? defaultLibraryDirs(flavor) };
  }
  return { flavor, configured: await ldSoConfDirs(fs), defaults: defaultLibraryDirs(flavor) };
}

/** The files a pattern such as `/etc/ld.so.conf.d/*.conf` matches: `*` in the last component only. */
export function globFiles(fs: ImageFs, pattern: string): string[] {
  const dir = dirname(pattern);
  const base = pattern.slice(pattern.lastIndexOf('/') + 1);
  if (!base.includes('*') && !base.includes('?')) return [pattern];
  const regex = new RegExp(`^${base.split('').map(globChar).join('')}$`);
  return fs
    .list(dir)
    .filter((name) => regex.test(name) && !name.startsWith('.'))
    .map((name) => (dir === '/' ? `/${name}` : `${dir}/${name}`));
}

function globChar(c: string): string {
  if (c === '*') return '[^/]*';
  if (c === '?') return '[^/]';
  return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}

function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** An absolute directory without a trailing slash; undefined for an empty or relative one. */
function normalizeDir(dir: string): string | undefined {
  if (!dir.startsWith('/')) return undefined;
  const trimmed = dir.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed.replace(/\/{2,}/g, '/');
}
