import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { inputError } from '../errors.js';
import type { ContentRange } from './content-range.js';
import { normalizeMemberName, READ_CHUNK, TarFileIndex } from './tar-index.js';

/**
 * The files of an image archive, wherever they live: inside a tar file (`docker save` output, an OCI
 * layout tarball) or in a directory (an OCI layout on disk). Image readers only see this interface.
 */
export interface ArchiveFiles {
  readonly description: string;
  has(name: string): Promise<boolean>;
  size(name: string): Promise<number>;
  read(name: string): Promise<Buffer>;
  open(name: string): Readable;
  /** where the file's bytes lie on disk, contiguous */
  locate(name: string): Promise<ContentRange>;
}

export class TarArchiveFiles implements ArchiveFiles {
  private constructor(
    private readonly index: TarFileIndex,
    readonly description: string,
  ) {}

  static async open(path: string): Promise<TarArchiveFiles> {
    return new TarArchiveFiles(await TarFileIndex.open(path), path);
  }

  private member(name: string) {
    const member = this.index.get(name);
    if (!member || member.kind !== 'file') throw inputError(`${this.description} has no file ${name}`);
    return member;
  }

  async has(name: string): Promise<boolean> {
    const member = this.index.get(name);
    return member?.kind === 'file';
  }

  async size(name: string): Promise<number> {
    return this.member(name).size;
  }

  async read(name: string): Promise<Buffer> {
    return this.index.readMember(this.member(name));
  }

  open(name: string): Readable {
    return this.index.openMember(this.member(name));
  }

  async locate(name: string): Promise<ContentRange> {
    const member = this.member(name);
    return { file: this.index.path, start: member.dataOffset, size: member.size };
  }
}

export class DirectoryArchiveFiles implements ArchiveFiles {
  readonly description: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.description = root;
  }

  private pathOf(name: string): string {
    const full = join(this.root, normalizeMemberName(name));
    if (full !== this.root && !full.startsWith(this.root + sep)) throw inputError(`${name} points outside ${this.description}`);
    return full;
  }

  async has(name: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(name))).isFile();
    } catch {
      return false;
    }
  }

  async size(name: string): Promise<number> {
    try {
      return (await stat(this.pathOf(name))).size;
    } catch {
      throw inputError(`${this.description} has no file ${name}`);
    }
  }

  async read(name: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(name));
    } catch {
      throw inputError(`${this.description} has no file ${name}`);
    }
  }

  open(name: string): Readable {
    return createReadStream(this.pathOf(name), { highWaterMark: READ_CHUNK });
  }

  async locate(name: string): Promise<ContentRange> {
    return { file: this.pathOf(name), start: 0, size: await this.size(name) };
  }
}
