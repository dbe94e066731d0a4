import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

/** Whether anything (a dangling symlink included) is at a host path. */
export function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Copies a host path into `root` at the same place, recreating every symlink passed on the way (same
 * targets), and returns those symlinks followed by the real path: what a closure keeps for that path.
 */
export function mirrorHostPath(hostPath: string, root: string): string[] {
  const links: string[] = [];
  let pending = hostPath.split('/').filter((p) => p !== '' && p !== '.');
  let resolved: string[] = [];
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '..') {
      resolved.pop();
      continue;
    }
    const current = `/${[...resolved, name].join('/')}`;
    const inRoot = join(root, current);
    const stats = lstatSync(current);
    if (stats.isSymbolicLink()) {
      const target = readlinkSync(current);
      if (!lexists(inRoot)) {
        mkdirSync(dirname(inRoot), { recursive: true });
        symlinkSync(target, inRoot);
      }
      links.push(current);
      if (target.startsWith('/')) resolved = [];
      pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
      continue;
    }
    if (stats.isDirectory()) mkdirSync(inRoot, { recursive: true });
    else if (!lexists(inRoot)) copyFileSync(current, inRoot);
    resolved.push(name);
  }
  return [...links, `/${resolved.join('/')}`];
}

/** What `ldd` says a host binary loads: its interpreter and its libraries, as printed. */
export function lddPaths(path: string): { interpreter?: string; libraries: string[] } {
  const out = execFileSync('ldd', [path], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let interpreter: string | undefined;
  const libraries: string[] = [];
  for (const line of out.split('\n')) {
    let m: RegExpExecArray | null;
    if (/linux-vdso|linux-gate/.test(line)) continue;
    if ((m = /^\s*\S+ => (\/\S+) \(0x/.exec(line))) libraries.push(posix.normalize(m[1]!));
    else if ((m = /^\s*(\/\S+) \(0x/.exec(line))) interpreter = posix.normalize(m[1]!);
  }
  return { interpreter, libraries };
}

/** Writes a file at an image path under `root`, creating its directories. */
export function writeIn(root: string, path: string, content: string | Buffer = '', mode = 0o644): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  chmodSync(full, mode);
}

/** Creates a symlink at an image path under `root`. */
export function linkIn(root: string, path: string, target: string): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  symlinkSync(target, full);
}

/** Creates a directory at an image path under `root`. */
export function dirIn(root: string, path: string): void {
  mkdirSync(join(root, path), { recursive: true });
}
