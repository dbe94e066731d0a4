import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { FileIndex, FileRecord } from './file-index.js';
import type { ImageFs, RandomAccessFile, ResolvedPath } from './image-fs.js';
import { describeLayer, openLayerTar, wrapLayerError } from './layer-decoder.js';
import { extractLayerTar, normalizeEntryPath, type LayerListing } from './layer-listing.js';
import { lstatThroughParents, resolveSymlinks } from './resolve-path.js';
import { entryName, sparseOf, writeSparseContent } from './tar-normalize.js';
import type { Image } from './types.js';

/** Where the content of `path` (no leading slash) is stored under a materialized root. */
function contentPath(root: string, path: string): string {
  return join(root, 'files', path);
}

function sideCopyPath(root: string, layer: number, path: string): string {
  return join(root, 'hardlink-sources', String(layer), path);
}

/**
 * Writes the content of every regular file visible in the merged view into `root/files/PATH`, reading
 * each layer once as a stream. Only contents are written: files get mode 0644 and directories 0755
 * whatever the image says, symlinks stay in the index, and devices are never created, so an image
 * cannot plant anything executable or escaping on the host. Hardlinks get the content of their target
 * as that layer held it. `wanted` limits the work to the files a caller will read.
 */
export async function materializeContents(
  image: Image,
  index: FileIndex,
  listings: LayerListing[],
  root: string,
  wanted: (record: FileRecord) => boolean = () => true,
  signal?: AbortSignal,
): Promise<void> {
  for (const layer of image.layers) {
    const listing = listings.find((l) => l.index === layer.index);
    if (!listing) continue;
    const winners = new Set<string>();
    const hardlinkSources = new Set<string>();
    const winningLinks: FileRecord[] = [];
    for (const entry of listing.entries) {
      const record = index.get(entry.path);
      if (!record || record.layer !== layer.index || record.path !== entry.path || !wanted(record)) continue;
      if (record.type === 'file') winners.add(entry.path);
      if (record.type === 'hardlink' && record.linkTarget !== undefined) winningLinks.push(record);
    }
    // a link's target is written aside when its own copy is not (not wanted, or replaced by a later layer)
    for (const link of winningLinks) if (!winners.has(link.linkTarget!)) hardlinkSources.add(link.linkTarget!);
    if (winners.size === 0 && winningLinks.length === 0) continue;
    await extractLayer(openLayerTar(layer), (path) => {
      // the root is being removed (Ctrl-C): writing on would bring it back
      if (signal?.aborted) throw new Error('materializing stopped');
      if (winners.has(path)) return contentPath(root, path);
      if (hardlinkSources.has(path)) return sideCopyPath(root, layer.index, path);
      return undefined;
    }).catch((err: unknown) => {
      // a failed write on our side (disk full) is not the layer's fault
      if ((err as NodeJS.ErrnoException).syscall !== undefined) throw err;
      throw wrapLayerError(err, describeLayer(layer));
    });
    for (const link of winningLinks) {
      if (signal?.aborted) throw new Error('materializing stopped');
      const target = link.linkTarget!;
      const source = hardlinkSources.has(target) ? sideCopyPath(root, layer.index, target) : contentPath(root, target);
      const destination = contentPath(root, link.path);
      await mkdir(dirname(destination), { recursive: true });
      await copyFile(source, destination).catch(() => undefined);
    }
  }
}

async function extractLayer(source: Readable, destinationOf: (path: string) => string | undefined): Promise<void> {
  const extract = extractLayerTar(source);
  try {
    for await (const entry of extract) {
      const stream = entry as unknown as Readable & AsyncIterable<Buffer>;
      const path = entry.header.type === 'file' || entry.header.type === 'contiguous-file' ? normalizeEntryPath(entryName(entry.header)) : undefined;
      const destination = path === undefined ? undefined : destinationOf(path);
      if (destination === undefined) {
        for await (const _chunk of stream) {
          // not needed: skip its data
        }
        continue;
      }
      await mkdir(dirname(destination), { recursive: true, mode: 0o755 });
      const sparse = sparseOf(entry.header);
      if (sparse) {
        // holes stay holes: a sparse multi-gigabyte file costs only its data on disk
        const handle = await open(destination, 'w', 0o644);
        try {
          await writeSparseContent(stream, sparse, handle);
        } finally {
          await handle.close();
        }
      } else {
        await pipeline(stream, createWriteStream(destination, { mode: 0o644 }));
      }
    }
  } catch (err) {
    source.destroy();
    throw err;
  }
}

/** An ImageFs over a FileIndex, with file contents from a materialized root. */
export class IndexImageFs implements ImageFs {
  constructor(
    private readonly index: FileIndex,
    private readonly root: string,
  ) {}

  lstat(path: string): FileRecord | undefined {
    return lstatThroughParents(path, (p) => this.index.get(p));
  }

  resolve(path: string): ResolvedPath {
    return resolveSymlinks(path, (p) => this.index.get(p));
  }

  list(path: string): string[] {
    return this.index.list(this.resolve(path).path);
  }

  private contentOf(path: string): string | undefined {
    const resolved = this.resolve(path);
    const record = resolved.record;
    if (!record || (record.type !== 'file' && record.type !== 'hardlink')) return undefined;
    return contentPath(this.root, record.path);
  }

  /** Where the content of a regular file (or hardlink) at exactly this path was materialized. */
  contentFile(path: string): string | undefined {
    const record = this.index.get(path);
    if (!record || (record.type !== 'file' && record.type !== 'hardlink')) return undefined;
    return contentPath(this.root, record.path);
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    const file = this.contentOf(path);
    return file ? readFile(file).catch(() => undefined) : undefined;
  }

  async open(path: string): Promise<RandomAccessFile | undefined> {
    const file = this.contentOf(path);
    if (!file) return undefined;
    const info = await stat(file).catch(() => undefined);
    if (!info) return undefined;
    return {
      size: info.size,
      async read(offset: number, length: number): Promise<Buffer> {
        const handle = await open(file, 'r');
        try {
          const buffer = Buffer.alloc(Math.max(0, Math.min(length, info.size - offset)));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          return buffer.subarray(0, bytesRead);
        } finally {
          await handle.close();
        }
      },
    };
  }
}
