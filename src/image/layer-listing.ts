import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { classifyElf, ELF_HEAD_BYTES, type ElfKind } from './elf.js';
import { ExitCode } from '../errors.js';
import { describeLayer, LayerDataError, openLayerTar, wrapLayerError } from './layer-decoder.js';
import { entryLinkName, entryName, normalizeTarStream, sparseOf } from './tar-normalize.js';
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
  /** entries slim ignored (unknown types), one line each */
  problems: string[];
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/**
 * A tar path normalised as Docker does (lexically: `./a//b/../c/` → `a/c`, a leading `/` dropped), in
 * one pass: `path` is undefined for the root itself and for a path whose `..` components climb above
 * the root, which Docker refuses ("breakout") and `escapes` marks.
 */
export function resolveEntryPath(name: string): { path: string | undefined; escapes: boolean } {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') parts.push(part);
    else if (parts.pop() === undefined) return { path: undefined, escapes: true };
  }
  return { path: parts.length ? parts.join('/') : undefined, escapes: false };
}

export function normalizeEntryPath(name: string): string | undefined {
  return resolveEntryPath(name).path;
}

export function climbsOutOfRoot(name: string): boolean {
  return resolveEntryPath(name).escapes;
}

/** A layer Docker would refuse to unpack: an entry or a hardlink target escapes the root. */
function escapingEntry(where: string, what: string): LayerDataError {
  return new LayerDataError(`${where}: ${what} climbs out of the image root`, ExitCode.input, 'Docker refuses to load such a layer ("breakout"); rebuild the image');
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

/**
 * tar-stream's extractor over a layer's tar, fed through `normalizeTarStream` (GNU sparse entries,
 * names that are not UTF-8); read names with `entryName`. Errors of `source` end the extractor.
 */
export function extractLayerTar(source: Readable): tar.Extract {
  // latin1 keeps a name's raw bytes; entryName() decodes them
  const extract = tar.extract({ filenameEncoding: 'latin1' } as unknown as Parameters<typeof tar.extract>[0]);
  const normalize = normalizeTarStream();
  source.on('error', (err) => extract.destroy(err));
  normalize.on('error', (err) => extract.destroy(err));
  source.pipe(normalize).pipe(extract);
  return extract;
}

/**
 * Parses one layer's tar stream into entries. An entry or hardlink that climbs out of the root makes
 * the layer invalid (`where` names it in the error), as Docker refuses to unpack it.
 */
export async function listLayerTar(index: number, source: Readable, onBytes?: (n: number) => void, where = `layer ${index}`): Promise<LayerListing> {
  const listing: LayerListing = { index, entries: [], bytes: 0, tarBytes: 0, problems: [] };
  source.on('data', (chunk: Buffer) => {
    listing.tarBytes += chunk.length;
    onBytes?.(chunk.length);
  });
  const extract = extractLayerTar(source);
  const sourceDone = finished(source).catch(() => undefined);
  try {
    await readEntries(extract, listing, where);
  } catch (err) {
    // stop reading the layer: nothing downstream will take its data any more
    source.destroy();
    throw err;
  }
  await sourceDone;
  return listing;
}

async function readEntries(extract: tar.Extract, listing: LayerListing, where: string): Promise<void> {
  for await (const tarEntry of extract) {
    const header = tarEntry.header;
    const entry = tarEntry as unknown as AsyncIterable<Buffer>;
    const name = entryName(header);
    const { path, escapes } = resolveEntryPath(name);
    if (escapes) {
      extract.destroy();
      throw escapingEntry(where, `entry ${JSON.stringify(name)}`);
    }
    const type = TYPE_MAP[header.type ?? 'file'];
    if (path === undefined || type === undefined) {
      if (path !== undefined) listing.problems.push(`entry ${JSON.stringify(name)} has unsupported type ${header.type}; ignored`);
      await drain(entry);
      continue;
    }
    const base = path.slice(path.lastIndexOf('/') + 1);
    // a GNU sparse file counts with its apparent size; its holes are never read
    const sparse = sparseOf(header);
    const size = sparse?.size ?? header.size ?? 0;
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
    if (type === 'symlink') record.linkTarget = entryLinkName(header);
    if (type === 'hardlink') {
      const linkName = entryLinkName(header);
      const { path: target, escapes: targetEscapes } = resolveEntryPath(linkName);
      if (target === undefined) {
        if (targetEscapes) {
          extract.destroy();
          throw escapingEntry(where, `hardlink ${JSON.stringify(name)} → ${JSON.stringify(linkName)}`);
        }
        listing.problems.push(`hardlink ${JSON.stringify(name)} points at the root itself; ignored`);
        await drain(entry);
        continue;
      }
      record.linkTarget = target;
    }
    if (record.type === 'file' && !sparse && size >= 52) {
      record.elf = classifyElf(await readHead(entry, Math.min(size, ELF_HEAD_BYTES)));
    } else {
      await drain(entry);
    }
    listing.bytes += size;
    listing.entries.push(record);
  }
}

/** Reads one layer of an image (decompressing and verifying it) into a listing. */
export async function listLayer(layer: Layer, onBytes?: (n: number) => void): Promise<LayerListing> {
  try {
    return await listLayerTar(layer.index, openLayerTar(layer), onBytes, describeLayer(layer));
  } catch (err) {
    throw wrapLayerError(err, describeLayer(layer));
  }
}
