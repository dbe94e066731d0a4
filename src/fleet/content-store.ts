import { copyFile, link, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * File contents by sha256, shared by every function of a fleet: an image's kept files are linked in
 * (or copied, across file systems) while it is open, so the image can be closed before the next one is
 * read, and a file many functions keep is stored once.
 */
export class ContentStore {
  private readonly known = new Set<string>();

  constructor(readonly dir: string) {}

  static async create(dir: string): Promise<ContentStore> {
    await mkdir(dir, { recursive: true });
    return new ContentStore(dir);
  }

  pathOf(sha256: string): string {
    return join(this.dir, sha256.slice(sha256.indexOf(':') + 1));
  }

  has(sha256: string): boolean {
    return this.known.has(sha256);
  }

  async add(sha256: string, file: string): Promise<void> {
    if (this.known.has(sha256)) return;
    const destination = this.pathOf(sha256);
    await link(file, destination).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return;
      if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
      await copyFile(file, destination);
    });
    this.known.add(sha256);
  }
}
