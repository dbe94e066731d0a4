import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { openRange, type ContentRange } from './content-range.js';
import { CompressStream as ZstdCompressStream } from 'zstd-napi';

/** One entry to write. `path` has no leading slash; directories have no trailing one. */
export interface TarEntrySpec {
  path: string;
  /** a whiteout is written as the empty regular file OCI layers use (`.wh.NAME`, named by `path`) */
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'whiteout';
  mode: number;
  uid: number;
  gid: number;
  /** for files: where the content is read from; its size is taken from the file */
  contentFile?: string;
  /** for files, instead of `contentFile`: a byte range of a file */
  contentRange?: ContentRange;
  /** symlink target as stored, or the hardlink's target path (no leading slash) */
  linkTarget?: string;
  /** seconds since the epoch */
  mtime: number;
}

export interface WrittenBlob {
  path: string;
  digest: string;
  size: number;
}

/**
 * How a layer's blob is compressed: gzip (every engine pulls it), zstd (containerd 1.5+, not dockerd
 * 20.10), estargz (gzip that a lazy-pulling node can mount before it has all of it; see estargz.ts).
 */
export const LAYER_COMPRESSIONS = ['gzip', 'zstd', 'estargz'] as const;
export type LayerCompression = (typeof LAYER_COMPRESSIONS)[number];
/** the compressions one stream compressor writes */
export type StreamCompression = Exclude<LayerCompression, 'estargz'>;

export const LAYER_MEDIA_TYPE: Record<LayerCompression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  estargz: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

export interface WrittenLayer {
  /** the uncompressed tar: its digest is the diff_id */
  tar: WrittenBlob;
  /** the tar compressed, as registries and OCI layouts store it: its digest names the blob */
  blob: WrittenBlob;
  compression: LayerCompression;
  mediaType: string;
  /** annotations of the layer's manifest descriptor */
  annotations: Record<string, string>;
}

export class Digester extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.push(chunk);
    callback();
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

const MAX_OCTAL_ID = 0o777777;
const MAX_MTIME = 2 ** 31 - 1;

/**
 * Owner ids and times too large for the ustar fields (tar-stream would clamp or wrap them) go in pax
 * records, which readers prefer; the ustar fields then hold the largest value they can.
 */
function timeAndIds(entry: TarEntrySpec): { mtime: Date; pax?: Record<string, string> } {
  const pax: Record<string, string> = {};
  if (entry.uid > MAX_OCTAL_ID || entry.gid > MAX_OCTAL_ID) Object.assign(pax, { uid: String(entry.uid), gid: String(entry.gid) });
  if (entry.mtime > MAX_MTIME || entry.mtime < 0) pax.mtime = String(entry.mtime);
  const mtime = new Date(Math.min(Math.max(entry.mtime, 0), MAX_MTIME) * 1000);
  return Object.keys(pax).length ? { mtime, pax } : { mtime };
}

/** Fixed gzip settings: the same tar always compresses to the same bytes (zlib writes no name or time). */
export function deterministicGzip() {
  return createGzip({ level: 6, memLevel: 8, windowBits: 15, strategy: zlibConstants.Z_DEFAULT_STRATEGY });
}

/**
 * Fixed zstd settings: level 3, one thread, a checksum, and the zstd of the zstd-napi version the lockfile
 * pins, so the same tar compresses to the same bytes on every machine (output does not depend on how the
 * input is cut into chunks).
 */
export function deterministicZstd(): Transform {
  return new ZstdCompressStream({ compressionLevel: 3, checksumFlag: true, nbWorkers: 0 });
}

const COMPRESSORS: Record<StreamCompression, () => Transform> = { gzip: deterministicGzip, zstd: deterministicZstd };

/** Writes entries, in the order given, into the tar stream `pack` (see writeTar). */
async function packEntries(pack: tar.Pack, entries: TarEntrySpec[]): Promise<void> {
  for (const entry of entries) {
    const header = {
      name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
      mode: entry.mode & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      uname: '',
      gname: '',
      ...timeAndIds(entry),
    };
    if (entry.type === 'file') {
      const range = entry.contentRange ?? { file: entry.contentFile!, start: 0, size: (await stat(entry.contentFile!)).size };
      const sink = pack.entry({ ...header, type: 'file', size: range.size });
      await pipeline(openRange(range), sink as unknown as NodeJS.WritableStream);
    } else if (entry.type === 'whiteout') {
      pack.entry({ ...header, type: 'file', size: 0 }, Buffer.alloc(0));
    } else if (entry.type === 'directory') {
      pack.entry({ ...header, type: 'directory' });
    } else if (entry.type === 'symlink') {
      pack.entry({ ...header, type: 'symlink', linkname: entry.linkTarget ?? '' });
    } else {
      pack.entry({ ...header, type: 'link', linkname: entry.linkTarget ?? '' });
    }
  }
  pack.finalize();
}

/**
 * Packs the entries and hands the tar stream to `consume`, which must read all of it; fails when
 * either side fails.
 */
async function packInto(entries: TarEntrySpec[], consume: (tarStream: NodeJS.ReadableStream) => Promise<void>): Promise<void> {
  const pack = tar.pack();
  const consuming = consume(pack as unknown as NodeJS.ReadableStream);
  const packing = packEntries(pack, entries);
  try {
    // whichever side fails first fails the whole: a consumer that stopped reading would leave packing stalled
    await Promise.all([packing, consuming]);
  } catch (err) {
    pack.destroy(err as Error);
    await Promise.allSettled([consuming]);
    packing.catch(() => undefined);
    throw err;
  }
}

/**
 * Writes entries, in the order given, as a tar: no user or group names, one fixed modification time
 * per entry as given, content streamed from disk. The same entries always give the same bytes.
 */
export async function writeTar(entries: TarEntrySpec[], tarPath: string): Promise<WrittenBlob> {
  const digester = new Digester();
  await packInto(entries, (tarStream) => pipeline(tarStream, digester, createWriteStream(tarPath)));
  return { path: tarPath, digest: digester.digest(), size: digester.size };
}

/**
 * Writes the entries as a tar and, from the same stream in the same pass, its blob compressed as asked
 * (see writeTar): the content files are read once.
 */
export async function writeLayer(entries: TarEntrySpec[], tarPath: string, blobPath: string, compression: StreamCompression = 'gzip'): Promise<WrittenLayer> {
  const tarDigester = new Digester();
  // three pipelines meet at it (in, to the tar file, to the compressor), each with its own end-of-stream listeners
  tarDigester.setMaxListeners(32);
  const blobDigester = new Digester();
  await packInto(entries, async (tarStream) => {
    const hashing = pipeline(tarStream, tarDigester);
    // one source, two pipelines: pipe() waits for the slower of the two, so memory stays bounded
    const toFile = pipeline(tarDigester, createWriteStream(tarPath));
    const toBlob = pipeline(tarDigester, COMPRESSORS[compression](), blobDigester, createWriteStream(blobPath));
    await Promise.all([hashing, toFile, toBlob]);
  });
  const tarBlob = { path: tarPath, digest: tarDigester.digest(), size: tarDigester.size };
  const blob = { path: blobPath, digest: blobDigester.digest(), size: blobDigester.size };
  return { tar: tarBlob, blob, compression, mediaType: LAYER_MEDIA_TYPE[compression], annotations: {} };
}

/** Bytes of a stream once gzip-compressed with the settings slim writes layers with. */
export async function gzipSize(source: NodeJS.ReadableStream, signal?: AbortSignal): Promise<number> {
  const counter = new Digester();
  const sink = new PassThrough();
  sink.resume();
  await pipeline(source, deterministicGzip(), counter, sink, { signal });
  return counter.size;
}
