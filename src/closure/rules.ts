import type { ImageFs } from '../image/image-fs.js';
import { envValue } from './search-path.js';

export interface RuleHit {
  path: string;
  from?: string;
}

/** Files a process may read lazily, long after start-up or only on some requests: user and host lookups, the loader cache. */
const SYSTEM_FILES = [
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  '/etc/hosts',
  '/etc/host.conf',
  '/etc/resolv.conf',
  '/etc/gai.conf',
  '/etc/services',
  '/etc/protocols',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/localtime',
  '/etc/timezone',
  '/etc/os-release',
];

/** Trust stores that TLS libraries open when the first outgoing HTTPS connection is made. */
const CA_FILES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/cert.pem', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/openssl.cnf', '/usr/lib/ssl/openssl.cnf'];
const TLS_LIBRARY = /(^|\/)(libssl|libcrypto|libgnutls|libnss3|libnode|libmbedtls|libwolfssl)[^/]*\.so/;

function existing(fs: ImageFs, paths: string[]): string[] {
  return paths.filter((p) => fs.resolve(p).record !== undefined);
}

/** Always-useful system files that exist in the image. */
export function systemFileRules(fs: ImageFs): RuleHit[] {
  return existing(fs, SYSTEM_FILES).map((path) => ({ path }));
}

/** The CA bundle and OpenSSL config, when a kept file is a TLS library (or a runtime that bundles one). */
export function tlsRules(fs: ImageFs, keptPaths: Iterable<string>): RuleHit[] {
  const tlsLibrary = [...keptPaths].find((p) => TLS_LIBRARY.test(p));
  if (!tlsLibrary) return [];
  return existing(fs, CA_FILES).map((path) => ({ path, from: tlsLibrary }));
}

/** The zoneinfo file for the TZ the image sets. */
export function timezoneRules(fs: ImageFs, env: string[] | null | undefined): RuleHit[] {
  const tz = envValue(env, 'TZ')?.replace(/^:/, '');
  if (!tz) return [];
  const path = tz.startsWith('/') ? tz : `/usr/share/zoneinfo/${tz}`;
  return existing(fs, [path]).map((p) => ({ path: p, from: 'TZ' }));
}

/**
 * Python imports a module only after its packages' `__init__` modules, and decodes text through the
 * `encodings` package, whose codecs load lazily: keep every `__init__.py` above a kept module, and
 * the sources of the whole `encodings` package of every Python whose standard library was touched.
 * A codec's cached bytecode is kept only when the run loaded it (the trace keeps that): one loaded
 * later is compiled from its source, which takes a millisecond, and the 120 caches would cost 0.6 MB.
 */
export function pythonRules(fs: ImageFs, keptPaths: Iterable<string>): RuleHit[] {
  const hits: RuleHit[] = [];
  const seenDirs = new Set<string>();
  const stdlibs = new Set<string>();
  for (const path of keptPaths) {
    const stdlib = /^(\/usr(?:\/local)?\/lib\/python3(?:\.\d+)?)\//.exec(path);
    if (stdlib) stdlibs.add(stdlib[1]!);
    if (!/\.py[cd]?$/.test(path) && !/\.(so|pyd)$/.test(path)) continue;
    let dir = path.slice(0, path.lastIndexOf('/'));
    if (dir.endsWith('/__pycache__')) dir = dir.slice(0, -'/__pycache__'.length);
    while (dir && !seenDirs.has(dir)) {
      seenDirs.add(dir);
      const init = `${dir}/__init__.py`;
      if (!fs.resolve(init).record) break;
      hits.push({ path: init, from: path });
      for (const name of fs.list(`${dir}/__pycache__`)) {
        if (name.startsWith('__init__.')) hits.push({ path: `${dir}/__pycache__/${name}`, from: path });
      }
      dir = dir.slice(0, dir.lastIndexOf('/'));
    }
  }
  for (const stdlib of stdlibs) {
    const walk = (dir: string) => {
      for (const name of fs.list(dir)) {
        const child = `${dir}/${name}`;
        const record = fs.lstat(child);
        if (record?.type === 'directory') {
          if (name !== '__pycache__') walk(child);
        }
        else if (record) hits.push({ path: child, from: stdlib });
      }
    };
    if (fs.lstat(`${stdlib}/encodings`)?.type === 'directory') walk(`${stdlib}/encodings`);
  }
  return hits;
}
