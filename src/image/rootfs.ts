import { createWriteStream } from 'node:fs';
import { statSync } from 'node:fs';
import { copyFile, mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { FileIndex, FileRecord } from './file-index.js';
import type { ImageFs, RandomAccessFile, ResolvedPath } from './image-fs.js';
import { describeLayer, openLayerTar, wrapLayerError } from './layer-decoder.js';
import { extractLayerTar, normalizeEntryPath, type LayerListing } from './layer-listing.js';
import { lstatThroughParents, resolveSymlinks } from './resolve-path.js';
import { entryName, sparseOf, writeSparseContent } from './tar-normalize.js';
import type { Image, Layer } from './types.js';
import { readRange, type ContentRange } from './content-range.js';
import { isTarHeader, TarFileIndex } from './tar-index.js';

/** Where the content of `path` (no leading slash) is stored under a materialized root. */
function contentPath(root: string, path: string): string {
  return join(root, 'files', path);
}

function sideCopyPath(root: string, layer: number, path: string): string {
  return join(root, 'hardlink-sources', String(layer), path);
}

/** A layer's members by offset, when its stored blob is an uncompressed tar in a local file; else undefined. */
async function plainTarMembers(layer: Layer): Promise<TarFileIndex | undefined> {
  const at = layer.storedAt;
  if (!at || at.size < 512) return undefined;
  // a compressed blob is decoded and extracted instead
  if (!isTarHeader(await readRange(at, 0, 512))) return undefined;
  return TarFileIndex.open(at.file, describeLayer(layer), at).catch(() => undefined);
}

/**
 * Where the content of every regular file visible in the merged view is. A file of a layer stored as an
 * uncompressed tar in a local file (a spooled `docker save`) is served by its byte range there, and
 * nothing is copied. The others are extracted into `root/files/PATH`, reading each such layer once as
 * a stream. Only contents are written: files get mode 0644 and directories 0755 whatever the image
 * says, symlinks stay in the index, and devices are never created, so an image cannot plant anything
 * executable or escaping on the host. Hardlinks get the content of their target as that layer held it.
 * `wanted` limits the work to the files a caller will read; `extractAll` copies every file out even
 * when a range would do (a caller that hard-links contents elsewhere).
 */
export async function materializeContents(
  image: Image,
  index: FileIndex,
  listings: LayerListing[],
  root: string,
  wanted: (record: FileRecord) => boolean = () => true,
  signal?: AbortSignal,
  options: { extractAll?: boolean } = {},
): Promise<Map<string, ContentRange>> {
  const ranges = new Map<string, ContentRange>();
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
    if (winners.size === 0 && winningLinks.length === 0) continue;
    const members = options.extractAll ? undefined : await plainTarMembers(layer);
    if (members) {
      const rangeOf = (path: string): ContentRange | undefined => {
        const member = members.get(path);
        return member?.kind === 'file' ? { file: layer.storedAt!.file, start: member.dataOffset, size: member.size } : undefined;
      };
      for (const path of [...winners]) {
        const range = rangeOf(path);
        if (range && range.size === index.get(path)?.size) {
          ranges.set(path, range);
          winners.delete(path);
        }
      }
      for (const link of [...winningLinks]) {
        const range = rangeOf(link.linkTarget!);
        if (range) {
          ranges.set(link.path, range);
          winningLinks.splice(winningLinks.indexOf(link), 1);
        }
      }
      if (winners.size === 0 && winningLinks.length === 0) continue;
    }
    // a link's target is written aside when its own copy is not (not wanted, or replaced by a later layer)
    for (const link of winningLinks) if (!winners.has(link.linkTarget!)) hardlinkSources.add(link.linkTarget!);
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
  return ranges;
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

/**
 * An ImageFs over a FileIndex, with file contents served by range from where the image is stored, or
 * from a materialized root (see materializeContents).
 */
export class IndexImageFs implements ImageFs {
  constructor(
    private readonly index: FileIndex,
    private readonly root: string,
    private readonly ranges: ReadonlyMap<string, ContentRange> = new Map(),
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

  private rangeOfRecord(record: FileRecord | undefined): ContentRange | undefined {
    if (!record || (record.type !== 'file' && record.type !== 'hardlink')) return undefined;
    const ranged = this.ranges.get(record.path);
    if (ranged) return ranged;
    const file = contentPath(this.root, record.path);
    try {
      return { file, start: 0, size: statSync(file).size };
    } catch {
      return undefined;
    }
  }

  /** The content of the regular file (or hardlink) at exactly this path, symlinks not followed. */
  content(path: string): ContentRange | undefined {
    return this.rangeOfRecord(this.index.get(path));
  }

  /**
   * The file on disk holding only this path's content: present when it was extracted (materializeContents
   * with `extractAll`), which a caller that hard-links contents needs.
   */
  contentFile(path: string): string | undefined {
    const record = this.index.get(path);
    if (!record || (record.type !== 'file' && record.type !== 'hardlink')) return undefined;
    if (this.ranges.has(record.path)) throw new Error(`${path} is served by range, not extracted: prepare the image with extractAll`);
    return contentPath(this.root, record.path);
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    const range = this.rangeOfRecord(this.resolve(path).record);
    return range ? readRange(range).catch(() => undefined) : undefined;
  }

  async open(path: string): Promise<RandomAccessFile | undefined> {
    const range = this.rangeOfRecord(this.resolve(path).record);
    if (!range) return undefined;
    return {
      size: range.size,
      read: (offset: number, length: number) => readRange(range, offset, length),
    };
  }
}
