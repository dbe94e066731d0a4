import type { FileRecord } from './file-index.js';
import type { ResolvedPath } from './image-fs.js';

const MAX_SYMLINK_HOPS = 40;

/** Lexically normalizes a path against a base directory: `/a/./b/../c` → `/a/c` (no symlinks followed). */
export function normalizePath(path: string, base = '/'): string {
  const parts: string[] = [];
  for (const part of `${path.startsWith('/') ? '' : base}/${path}`.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** The record of the last component without following it, with symlinks in the directories above it followed. */
export function lstatThroughParents(path: string, lstat: (path: string) => FileRecord | undefined): FileRecord | undefined {
  const parts = path.split('/').filter(Boolean);
  const name = parts.pop();
  if (name === undefined) return lstat('/');
  if (name === '.' || name === '..') return resolveSymlinks(path, lstat).record;
  const parent = resolveSymlinks(`/${parts.join('/')}`, lstat).path;
  return lstat(`${parent === '/' ? '' : parent}/${name}`);
}

/**
 * Follows symlinks in every component of an absolute path the way the kernel does inside the
 * container: absolute targets restart at the image root, `..` never climbs above it, and more than 40
 * hops end the walk (a loop). `lstat` takes an absolute path and must not follow a final symlink.
 */
export function resolveSymlinks(path: string, lstat: (path: string) => FileRecord | undefined): ResolvedPath {
  const links: string[] = [];
  // `..` is applied after the symlinks before it are followed, as the kernel does
  let pending = path.split('/').filter(Boolean);
  let resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '..') {
      resolved.pop();
      continue;
    }
    if (name === '.') continue;
    const candidate = `/${[...resolved, name].join('/')}`;
    const record = lstat(candidate);
    if (record?.type === 'symlink' && record.linkTarget !== undefined) {
      // a loop (or a chain too long): the kernel's ELOOP
      if (++hops > MAX_SYMLINK_HOPS) return { path: candidate, links, error: 'ELOOP' };
      links.push(candidate);
      const target = record.linkTarget.split('/').filter((p) => p !== '');
      if (record.linkTarget.startsWith('/')) resolved = [];
      pending = [...target, ...pending];
      continue;
    }
    resolved.push(name);
    if (!record && pending.length > 0) {
      // a missing directory: nothing below it exists either
      const rest = `/${[...resolved, ...pending].join('/')}`;
      return { path: normalizePath(rest), links };
    }
  }
  const final = `/${resolved.join('/')}`;
  const record = lstat(final);
  return record ? { path: final, record, links } : { path: final, links };
}
