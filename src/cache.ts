import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Where slim keeps what it can reuse from one run to the next (linked Java runtimes, the gzip sizes of
 * layers it measured): $SLIM_CACHE_DIR, else $XDG_CACHE_HOME/slim, else ~/.cache/slim. Every entry is
 * keyed by its inputs and checked or harmless when wrong, so deleting the cache is always safe.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLIM_CACHE_DIR) return env.SLIM_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'slim');
}

function temporaryBeside(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Writes `build` into a fresh directory, then renames it into place, so a reader never sees half an entry. */
export async function writeEntry(dir: string, build: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = temporaryBeside(dir);
  await mkdir(tmp, { recursive: true });
  try {
    await build(tmp);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Writes a one-file entry the same way: whole or not at all. */
export async function writeFileEntry(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = temporaryBeside(file);
  try {
    await writeFile(tmp, text);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}
