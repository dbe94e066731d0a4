import type { FileRecord } from './file-index.js';

/** Positional reads of one file, for parsers that must not load a whole (possibly huge) file. */
export interface RandomAccessFile {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
}

export interface ResolvedPath {
  /** the absolute path after following every symlink (may not exist) */
  path: string;
  /** the record at `path`, undefined when nothing is there */
  record?: FileRecord;
  /** absolute paths of every symlink passed on the way, in order (kept so a slim image keeps the chain) */
  links: string[];
  /** set when the walk gave up: more than 40 symlinks on the way (a loop), as the kernel's ELOOP */
  error?: 'ELOOP';
}

/**
 * Read access to an image's merged filesystem, with symlinks resolved inside the image (never on the
 * host). Paths are absolute (`/usr/bin/node`). Static analyzers (ELF closure, shebangs, node file
 * trace, language rules) work against this, so they can be tested on a synthetic filesystem.
 */
export interface ImageFs {
  /** the record at a path without following a final symlink */
  lstat(path: string): FileRecord | undefined;
  /** follows symlinks in every component, like the kernel would inside the container */
  resolve(path: string): ResolvedPath;
  /** names in a directory (after resolving it), sorted */
  list(path: string): string[];
  /** contents of a regular file (after resolving symlinks); undefined when it is not a readable file */
  readFile(path: string): Promise<Buffer | undefined>;
  /** random access to a regular file (after resolving symlinks) */
  open(path: string): Promise<RandomAccessFile | undefined>;
}
