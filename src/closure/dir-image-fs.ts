import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { classifyElf, ELF_HEAD_BYTES } from '../image/elf.js';
import type { FileRecord, FileType } from '../image/file-index.js';
import type { ImageFs, RandomAccessFile, ResolvedPath } from '../image/image-fs.js';
import { lstatThroughParents, resolveSymlinks } from '../image/resolve-path.js';

/**
 * An ImageFs over a real directory taken as an image's root (an unpacked rootfs, a test fixture).
 * Symlinks are followed inside the root only: an absolute target restarts at the root, `..` stops at
 * it, and the host is only ever asked about paths whose directories are already resolved, so no host
 * symlink outside the root is followed. Records come from lstat (layer 0).
 */
export class DirImageFs implements ImageFs {
  constructor(readonly root: string) {}

  lstat(path: string): FileRecord | undefined {
    return lstatThroughParents(path, (p) => this.recordAt(p));
  }

  /** Follows symlinks component by component, like the kernel does inside a chroot. */
  resolve(path: string): ResolvedPath {
    return resolveSymlinks(path, (p) => this.recordAt(p));
  }

  list(path: string): string[] {
    const dir = this.resolve(path);
    if (dir.record?.type !== 'directory') return [];
    try {
      return readdirSync(this.hostPath(dir.path)).sort();
    } catch {
      return [];
    }
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    const file = this.regularFile(path);
    return file === undefined ? undefined : readFile(file).catch(() => undefined);
  }

  async open(path: string): Promise<RandomAccessFile | undefined> {
    const file = this.regularFile(path);
    const size = file === undefined ? undefined : this.hostLstatAbsolute(file)?.size;
    if (file === undefined || size === undefined) return undefined;
    return {
      size,
      async read(offset: number, length: number): Promise<Buffer> {
        const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
        if (buffer.length === 0) return buffer;
        const handle = await open(file, 'r');
        try {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          return buffer.subarray(0, bytesRead);
        } finally {
          await handle.close();
        }
      },
    };
  }

  /** The host path of a regular file the image path resolves to. */
  private regularFile(path: string): string | undefined {
    const resolved = this.resolve(path);
    return resolved.record?.type === 'file' ? this.hostPath(resolved.path) : undefined;
  }

  /** `path` must have no symlink before its last component (resolve guarantees it). */
  private hostPath(path: string): string {
    return join(this.root, ...components(path));
  }

  private hostLstat(path: string): Stats | undefined {
    return this.hostLstatAbsolute(this.hostPath(path));
  }

  private hostLstatAbsolute(hostPath: string): Stats | undefined {
    try {
      return lstatSync(hostPath);
    } catch {
      return undefined;
    }
  }

  private recordAt(path: string): FileRecord | undefined {
    const stats = this.hostLstat(path);
    if (!stats) return undefined;
    const type = fileType(stats);
    const record: FileRecord = {
      path: components(path).join('/'),
      type,
      size: type === 'file' ? stats.size : 0,
      mode: stats.mode & 0o7777,
      uid: stats.uid,
      gid: stats.gid,
      mtime: Math.floor(stats.mtimeMs / 1000),
      layer: 0,
    };
    if (type === 'symlink') record.linkTarget = readlinkSync(this.hostPath(path));
    if (type === 'file' && stats.size >= 52) {
      const elf = classifyElf(readHead(this.hostPath(path)));
      if (elf !== undefined) record.elf = elf;
    }
    return record;
  }
}

function fileType(stats: Stats): FileType {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isCharacterDevice()) return 'char-device';
  if (stats.isBlockDevice()) return 'block-device';
  return 'fifo'; // FIFOs, and sockets (no closer type)
}

function readHead(hostPath: string): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(hostPath, 'r');
    const buffer = Buffer.alloc(ELF_HEAD_BYTES);
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
  } catch {
    return Buffer.alloc(0);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}
