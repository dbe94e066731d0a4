import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { classifyElf, ELF_HEAD_BYTES, type ElfKind } from './elf.js';
import { describeLayer, openLayerTar, wrapLayerError } from './layer-decoder.js';
import type { Layer } from './types.js';

export type EntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'char-device'
  | 'block-device'
  | 'fifo'
  | 'whiteout'
  | 'opaque';

/** One tar entry of a layer, with its path normalised (no leading `/` or `./`). */
export interface LayerEntry {
  path: string;
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkTarget?: string;
  elf?: ElfKind;
}

export interface LayerListing {
  index: number;
  entries: LayerEntry[];
  /** sum of the entries' sizes: the layer's content as dive counts it */
  bytes: number;
  /** bytes of uncompressed tar read */
  tarBytes: number;
  /** entries slim refused (paths escaping the root, unknown types), one line each */
  problems: string[];
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** Normalises a tar path; undefined for the root itself or for a path that climbs out of the root. */
export function normalizeEntryPath(name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    parts.push(part);
  }
  return parts.length ? parts.join('/') : undefined;
}

function paxNumber(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

const TYPE_MAP: Record<string, EntryType | undefined> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char-device',
  'block-device': 'block-device',
  fifo: 'fifo',
};

// tar-stream's entries are streamx streams: consume them by iteration, which both Node and streamx support.
async function readHead(stream: AsyncIterable<Buffer>, want: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  for await (const chunk of stream) {
    if (have < want) {
      parts.push(chunk);
      have += chunk.length;
    }
  }
  return parts.length === 1 ? parts[0]!.subarray(0, want) : Buffer.concat(parts).subarray(0, want);
}

async function drain(stream: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of stream) {
    // discard
  }
}

/** Parses one layer's tar stream into entries. */
export async function listLayerTar(index: number, source: Readable, onBytes?: (n: number) => void): Promise<LayerListing> {
  const listing: LayerListing = { index, entries: [], bytes: 0, tarBytes: 0, problems: [] };
  const extract = tar.extract();
  source.on('data', (chunk: Buffer) => {
    listing.tarBytes += chunk.length;
    onBytes?.(chunk.length);
  });
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  const sourceDone = finished(source).catch(() => undefined);

  for await (const tarEntry of extract) {
    const header = tarEntry.header;
    const entry = tarEntry as unknown as AsyncIterable<Buffer>;
    const path = normalizeEntryPath(header.name);
    const type = TYPE_MAP[header.type ?? 'file'];
    if (path === undefined || type === undefined) {
      if (header.name.split('/').includes('..')) {
        listing.problems.push(`entry ${JSON.stringify(header.name)} climbs out of the root; ignored`);
      } else if (path !== undefined) {
        listing.problems.push(`entry ${JSON.stringify(header.name)} has unsupported type ${header.type}; ignored`);
      }
      await drain(entry);
      continue;
    }
    const base = path.slice(path.lastIndexOf('/') + 1);
    const size = header.size ?? 0;
    // ids too large for the octal fields come in pax records, which tar-stream leaves to us
    const pax = header.pax as Record<string, string> | undefined;
    const record: LayerEntry = {
      path,
      type,
      size,
      mode: header.mode ?? 0,
      uid: paxNumber(pax?.uid) ?? header.uid ?? 0,
      gid: paxNumber(pax?.gid) ?? header.gid ?? 0,
      mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
    };
    if (base === OPAQUE_MARKER) {
      record.type = 'opaque';
      record.path = path.slice(0, Math.max(0, path.length - OPAQUE_MARKER.length - 1));
    } else if (base.startsWith(WHITEOUT_PREFIX)) {
      record.type = 'whiteout';
      record.path = path.slice(0, path.length - base.length) + base.slice(WHITEOUT_PREFIX.length);
    }
    if (type === 'symlink') record.linkTarget = header.linkname ?? '';
    if (type === 'hardlink') {
      const target = normalizeEntryPath(header.linkname ?? '');
      if (target === undefined) {
        listing.problems.push(`hardlink ${JSON.stringify(header.name)} points outside the root (${JSON.stringify(header.linkname)}); ignored`);
        await drain(entry);
        continue;
      }
      record.linkTarget = target;
    }
    if (record.type === 'file' && size >= 52) {
      record.elf = classifyElf(await readHead(entry, Math.min(size, ELF_HEAD_BYTES)));
    } else {
      await drain(entry);
    }
    listing.bytes += size;
    listing.entries.push(record);
  }
  await sourceDone;
  return listing;
}

/** Reads one layer of an image (decompressing and verifying it) into a listing. */
export async function listLayer(layer: Layer, onBytes?: (n: number) => void): Promise<LayerListing> {
  try {
    return await listLayerTar(layer.index, openLayerTar(layer), onBytes);
  } catch (err) {
    throw wrapLayerError(err, describeLayer(layer));
  }
}
