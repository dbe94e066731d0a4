import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { listLayerTar, type LayerListing } from '../../src/image/layer-listing.js';

/** One entry of a synthetic tar, in the compact form tests write. `type` defaults to 'file'. */
export interface TarEntrySpec {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  content?: string | Buffer;
  linkTarget?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
}

/** A fixed mtime so that equal inputs give byte-identical tars (and digests). */
export const FIXED_MTIME = new Date(1_700_000_000_000);

const TYPES = { file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link' } as const;

/** Builds a tar archive (a layer, or an outer archive) with tar-stream's pack(). */
export async function buildTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const e of entries) {
    const type = TYPES[e.type ?? 'file'];
    const header: Partial<Header> & Pick<Header, 'name'> = { name: e.path, type, mtime: e.mtime ?? FIXED_MTIME };
    if (e.mode !== undefined) header.mode = e.mode;
    if (e.uid !== undefined) header.uid = e.uid;
    if (e.gid !== undefined) header.gid = e.gid;
    if (e.linkTarget !== undefined) header.linkname = e.linkTarget;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, e.content ?? '', done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Shorthand for a regular file entry of `size` bytes. */
export function file(path: string, size: number, extra: Omit<TarEntrySpec, 'path' | 'content'> = {}): TarEntrySpec {
  return { path, content: Buffer.alloc(size, 0x61), ...extra };
}

export function dir(path: string, extra: Omit<TarEntrySpec, 'path' | 'type'> = {}): TarEntrySpec {
  return { path, type: 'dir', ...extra };
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function gzip(data: Buffer): Buffer {
  return gzipSync(data);
}

/** zstd-compresses with the zstd CLI (fzstd, which slim uses, only decompresses). */
export function zstd(data: Buffer): Buffer {
  return execFileSync('/usr/bin/zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 64 << 20 });
}

/** Lists a synthetic layer tar the way slim lists a layer. */
export async function listing(index: number, entries: TarEntrySpec[]): Promise<LayerListing> {
  return listLayerTar(index, Readable.from([await buildTar(entries)]));
}

/** A raw 512-byte tar header with a valid checksum, for formats tar-stream does not write (GNU long names). */
export function rawTarHeader(fields: {
  name: string;
  size?: number;
  typeflag?: string;
  linkname?: string;
  format?: 'ustar' | 'gnu';
  /** bytes written at offset 345 (the ustar prefix field; atime/ctime in the GNU format) */
  at345?: string;
}): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name.slice(0, 100), 0, 'utf8');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${(fields.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write(`${Math.floor(FIXED_MTIME.getTime() / 1000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  block.write(fields.typeflag ?? '0', 156, 'latin1');
  if (fields.linkname) block.write(fields.linkname, 157, 'utf8');
  if ((fields.format ?? 'ustar') === 'gnu') block.write('ustar  \0', 257, 'latin1');
  else block.write('ustar\x0000', 257, 'latin1');
  if (fields.at345) block.write(fields.at345, 345, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** Member data padded to whole 512-byte blocks. */
export function padBlock(data: Buffer): Buffer {
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return padded;
}
