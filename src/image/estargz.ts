import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, open, stat, truncate, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { Digester, writeTar, type TarEntrySpec, type WrittenLayer } from './layer-writer.js';
import { TarFileIndex } from './tar-index.js';

/** eStargz (stargz-snapshotter's docs/estargz.md): names, annotations, and the layout constants it fixes. */
export const ESTARGZ = {
  toc: 'stargz.index.json',
  prefetchLandmark: '.prefetch.landmark',
  noPrefetchLandmark: '.no.prefetch.landmark',
  tocDigestAnnotation: 'containerd.io/snapshot/stargz/toc.digest',
  uncompressedSizeAnnotation: 'io.containers.estargz.uncompressed-size',
  /** large files are cut into chunks, each its own gzip member, so a reader fetches only what it reads */
  chunkSize: 4 * 1024 * 1024,
  footerSize: 51,
} as const;

const GZIP_LEVEL = 6;
const END_OF_ARCHIVE = 1024;

export interface TocEntry {
  name: string;
  type: 'dir' | 'reg' | 'symlink' | 'hardlink' | 'chunk';
  size?: number;
  modtime?: string;
  linkName?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  digest?: string;
  offset?: number;
  chunkOffset?: number;
  chunkSize?: number;
  chunkDigest?: string;
}

const TYPE_BITS = { directory: 0o040000, file: 0o100000, symlink: 0o120000, hardlink: 0o100000, whiteout: 0o100000 } as const;

/** The 51-byte footer: an empty gzip member whose extra field says where the TOC's gzip member starts. */
export function estargzFooter(tocOffset: number): Buffer {
  const footer = Buffer.alloc(ESTARGZ.footerSize);
  footer.set([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff], 0);
  footer.writeUInt16LE(26, 10);
  footer.set([0x53, 0x47], 12);
  footer.writeUInt16LE(22, 14);
  footer.write(`${tocOffset.toString(16).padStart(16, '0')}STARGZ`, 16, 'latin1');
  // a final stored deflate block of length 0, then CRC32 and ISIZE of nothing
  footer.set([0x01, 0x00, 0x00, 0xff, 0xff], 38);
  return footer;
}

/** The TOC offset a footer names, or undefined when the bytes are not an eStargz footer. */
export function parseEstargzFooter(footer: Buffer): number | undefined {
  if (footer.length !== ESTARGZ.footerSize || footer[0] !== 0x1f || footer[1] !== 0x8b || footer[3] !== 0x04) return undefined;
  const field = footer.toString('latin1', 16, 38);
  const m = /^([0-9a-f]{16})STARGZ$/.exec(field);
  return m ? parseInt(m[1]!, 16) : undefined;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** The tar bytes of one small regular file entry followed by the end of the archive (the TOC's member). */
async function tocTar(toc: Buffer, mtime: number): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  pack.entry({ name: ESTARGZ.toc, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(mtime * 1000), type: 'file', size: toc.length }, toc);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Writes entries as an eStargz layer: the tar with each non-empty regular file (and each 4 MiB chunk of
 * a large one) starting a gzip member of its own, the first `prefetch` entries before the
 * `.prefetch.landmark` (or a `.no.prefetch.landmark` first when there are none), the TOC
 * `stargz.index.json` as the last entry, and the footer. Still a valid gzip of a valid tar, so every
 * engine pulls it; deterministic like the other compressions.
 */
export async function writeEstargzLayer(entries: TarEntrySpec[], prefetch: number, tarPath: string, blobPath: string, epoch: number): Promise<WrittenLayer> {
  const landmarkFile = join(dirname(tarPath), `${ESTARGZ.prefetchLandmark}.content`);
  await writeFile(landmarkFile, Buffer.from([0x0f]));
  const landmark = (path: string): TarEntrySpec => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: epoch, contentFile: landmarkFile });
  const ordered = prefetch > 0 ? [...entries.slice(0, prefetch), landmark(ESTARGZ.prefetchLandmark), ...entries.slice(prefetch)] : [landmark(ESTARGZ.noPrefetchLandmark), ...entries];
  await writeTar(ordered, tarPath);
  // the entries without the end of the archive: the TOC entry goes after them
  const bodySize = (await stat(tarPath)).size - END_OF_ARCHIVE;
  await truncate(tarPath, bodySize);
  const members = new Map((await TarFileIndex.open(tarPath, tarPath)).list().map((m) => [m.name, m]));

  // where gzip members start, in the uncompressed body
  const cuts = new Set<number>([0]);
  for (const spec of ordered) {
    const member = members.get(spec.path);
    if (spec.type !== 'file' || !member || member.size === 0) continue;
    for (let at = 0; at < member.size; at += ESTARGZ.chunkSize) cuts.add(member.dataOffset + at);
  }
  const boundaries = [...cuts].sort((a, b) => a - b);
  const compressedAt = new Map<number, number>();
  const blobDigester = new Digester();
  const blob = createWriteStream(blobPath);
  const blobWriting = pipeline(blobDigester, blob);
  const emit = (data: Buffer) => new Promise<void>((resolve, reject) => blobDigester.write(data, (err) => (err ? reject(err) : resolve())));
  let compressed = 0;
  const body = await open(tarPath, 'r');
  try {
    for (const [i, start] of boundaries.entries()) {
      const end = boundaries[i + 1] ?? bodySize;
      const data = Buffer.alloc(end - start);
      await body.read(data, 0, data.length, start);
      const member = gzipSync(data, { level: GZIP_LEVEL });
      compressedAt.set(start, compressed);
      compressed += member.length;
      await emit(member);
    }
  } finally {
    await body.close();
  }

  const toc: TocEntry[] = [];
  for (const spec of ordered) {
    const member = members.get(spec.path);
    const base = { modtime: rfc3339(spec.mtime), mode: TYPE_BITS[spec.type] | (spec.mode & 0o7777), uid: spec.uid, gid: spec.gid };
    if (spec.type === 'directory') toc.push({ name: `${spec.path}/`, type: 'dir', ...base });
    else if (spec.type === 'symlink') toc.push({ name: spec.path, type: 'symlink', linkName: spec.linkTarget ?? '', ...base });
    else if (spec.type === 'hardlink') toc.push({ name: spec.path, type: 'hardlink', linkName: spec.linkTarget ?? '', ...base });
    else if (!member || member.size === 0) toc.push({ name: spec.path, type: 'reg', size: 0, ...base });
    else {
      // chunk by chunk, so a large file is never held in memory whole
      const whole = createHash('sha256');
      const pieces: Array<{ from: number; length: number; digest: string }> = [];
      const handle = await open(tarPath, 'r');
      try {
        for (let from = 0; from < member.size; from += ESTARGZ.chunkSize) {
          const piece = Buffer.alloc(Math.min(ESTARGZ.chunkSize, member.size - from));
          await handle.read(piece, 0, piece.length, member.dataOffset + from);
          whole.update(piece);
          pieces.push({ from, length: piece.length, digest: sha256(piece) });
        }
      } finally {
        await handle.close();
      }
      for (const [k, piece] of pieces.entries()) {
        const chunk = { offset: compressedAt.get(member.dataOffset + piece.from)!, chunkOffset: piece.from, chunkSize: k === pieces.length - 1 ? 0 : piece.length, chunkDigest: piece.digest };
        if (k === 0) toc.push({ name: spec.path, type: 'reg', size: member.size, ...base, digest: `sha256:${whole.digest('hex')}`, ...chunk });
        else toc.push({ name: spec.path, type: 'chunk', ...chunk });
      }
    }
  }
  const tocJson = Buffer.from(JSON.stringify({ version: 1, entries: toc }));
  const tocPart = await tocTar(tocJson, epoch);
  const tocOffset = compressed;
  await emit(gzipSync(tocPart, { level: GZIP_LEVEL }));
  await emit(estargzFooter(tocOffset));
  blobDigester.end();
  await blobWriting;

  // the uncompressed layer is the body and the TOC's tar part: what the gzip members decompress to
  await appendFile(tarPath, tocPart);
  const tarHash = createHash('sha256');
  for await (const chunk of createReadStream(tarPath, { highWaterMark: 1 << 20 })) tarHash.update(chunk as Buffer);
  const tarSize = bodySize + tocPart.length;
  return {
    tar: { path: tarPath, digest: `sha256:${tarHash.digest('hex')}`, size: tarSize },
    blob: { path: blobPath, digest: blobDigester.digest(), size: blobDigester.size },
    compression: 'estargz',
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    annotations: { [ESTARGZ.tocDigestAnnotation]: sha256(tocJson), [ESTARGZ.uncompressedSizeAnnotation]: String(tarSize) },
  };
}
