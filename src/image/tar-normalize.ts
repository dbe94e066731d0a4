import type { FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { isTarHeader, readTarNumber } from './tar-index.js';

/**
 * Layer tars are parsed by tar-stream, which knows neither GNU sparse files nor names that are not
 * UTF-8. This module fills the gaps so that slim reads what Docker (Go's archive/tar) reads:
 *
 * - `normalizeTarStream()` rewrites the stream before tar-stream sees it: an old-GNU sparse entry
 *   (typeflag `S`, its map in the header and extension blocks) becomes a regular entry preceded by
 *   pax records in the GNU 0.1 sparse form; pax values that are not valid UTF-8 get `\xNN` escapes.
 * - `entryName()` / `entryLinkName()` turn header names (read as latin1, i.e. raw bytes) into text,
 *   escaping bytes that are not UTF-8 the same way, so two different names never merge.
 * - `sparseOf()` tells a sparse entry's apparent size; `writeSparseContent()` writes its content as a
 *   sparse file (holes stay holes: a 4 GiB file with a few kilobytes of data costs a few kilobytes).
 */

const BLOCK = 512;
const MAX_PAX_BYTES = 1 << 20;
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as text: valid UTF-8 sequences decoded, every other byte as `\xNN` (lossless, printable). */
export function escapeInvalidUtf8(bytes: Buffer): string {
  let ascii = true;
  for (const b of bytes) if (b >= 0x80) ascii = false;
  if (ascii) return bytes.toString('latin1');
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    // fall through: escape the bytes that do not decode
  }
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const length = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (length && i + length <= bytes.length) {
      try {
        out += fatalUtf8.decode(bytes.subarray(i, i + length));
        i += length;
        continue;
      } catch {
        // not a valid sequence: escape the lead byte
      }
    }
    out += `\\x${c.toString(16).padStart(2, '0')}`;
    i++;
  }
  return out;
}

/** The parts of a tar-stream header these functions read. */
interface HeaderFields {
  name: string;
  linkname?: string | null;
  pax?: unknown;
}

function paxOf(header: { pax?: unknown }): Record<string, string> | undefined {
  return (header.pax ?? undefined) as Record<string, string> | undefined;
}

/** tar-stream decodes header names as latin1 (our choice); pax values come as UTF-8 text already. */
function fromLatin1(text: string): string {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return escapeInvalidUtf8(Buffer.from(text, 'latin1'));
  return text;
}

/** The entry's name as text (a GNU sparse file's real name, not its `GNUSparseFile.N/` placeholder). */
export function entryName(header: HeaderFields): string {
  const pax = paxOf(header);
  if (pax?.['GNU.sparse.name'] !== undefined) return pax['GNU.sparse.name'];
  if (pax?.path) return header.name;
  return fromLatin1(header.name);
}

export function entryLinkName(header: HeaderFields): string {
  if (paxOf(header)?.linkpath) return header.linkname ?? '';
  return fromLatin1(header.linkname ?? '');
}

export interface SparseInfo {
  /** the file's apparent size */
  size: number;
  /** data runs as [offset, length], in order; undefined when it is at the start of the data (format 1.0) */
  map?: Array<[number, number]>;
}

function parseMap(text: string | undefined): Array<[number, number]> | undefined {
  if (text === undefined) return undefined;
  const numbers = text.split(',').filter((s) => s !== '').map(Number);
  if (numbers.length % 2 !== 0 || numbers.some((n) => !Number.isSafeInteger(n) || n < 0)) return undefined;
  const map: Array<[number, number]> = [];
  for (let i = 0; i < numbers.length; i += 2) map.push([numbers[i]!, numbers[i + 1]!]);
  return map;
}

/** GNU sparse files in pax form (0.0, 0.1, 1.0, and the old GNU form after `normalizeTarStream`). */
export function sparseOf(header: { pax?: unknown }): SparseInfo | undefined {
  const pax = paxOf(header);
  if (!pax) return undefined;
  const major = pax['GNU.sparse.major'];
  const minor = pax['GNU.sparse.minor'];
  const sizeText = pax['GNU.sparse.size'] ?? pax['GNU.sparse.realsize'];
  if (major === undefined && minor === undefined && pax['GNU.sparse.map'] === undefined && pax['GNU.sparse.size'] === undefined) return undefined;
  if (sizeText === undefined || !/^\d+$/.test(sizeText)) return undefined;
  const size = Number(sizeText);
  if (major === '1' && minor === '0') return { size };
  return { size, map: parseMap(pax['GNU.sparse.map']) ?? [] };
}

/**
 * Writes a sparse entry's data to `handle` at the offsets of its map, then sets the file's size. For
 * format 1.0 the map is read from the start of the data (decimal lines, padded to a 512-byte block).
 */
export async function writeSparseContent(data: AsyncIterable<Buffer>, sparse: SparseInfo, handle: FileHandle): Promise<void> {
  let map = sparse.map;
  let head: Buffer = Buffer.alloc(0);
  let run = 0;
  let runDone = 0;
  for await (let chunk of data) {
    if (!map) {
      head = Buffer.concat([head, chunk]);
      const parsed = parseMapHead(head);
      if (!parsed) {
        if (head.length > MAX_PAX_BYTES) throw new Error('sparse map too large');
        continue;
      }
      map = parsed.map;
      chunk = head.subarray(parsed.bytes);
    }
    while (chunk.length > 0 && run < map.length) {
      const [offset, length] = map[run]!;
      const n = Math.min(length - runDone, chunk.length);
      if (n > 0) await handle.write(chunk, 0, n, offset + runDone);
      runDone += n;
      chunk = chunk.subarray(n);
      if (runDone >= length) {
        run++;
        runDone = 0;
      }
    }
  }
  await handle.truncate(sparse.size);
}

/** The 1.0 map: a count, then offset and length pairs, one number a line, padded to a block. */
function parseMapHead(head: Buffer): { map: Array<[number, number]>; bytes: number } | undefined {
  const numbers: number[] = [];
  let pos = 0;
  let count: number | undefined;
  while (count === undefined || numbers.length < count * 2) {
    const newline = head.indexOf(0x0a, pos);
    if (newline === -1) return undefined;
    const value = Number(head.toString('latin1', pos, newline));
    if (!Number.isSafeInteger(value) || value < 0) throw new Error('bad sparse map');
    pos = newline + 1;
    if (count === undefined) count = value;
    else numbers.push(value);
  }
  const bytes = Math.ceil(pos / BLOCK) * BLOCK;
  if (head.length < bytes) return undefined;
  const map: Array<[number, number]> = [];
  for (let i = 0; i < numbers.length; i += 2) map.push([numbers[i]!, numbers[i + 1]!]);
  return { map, bytes };
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function writeChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}

function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.from(` ${key}=${value}\n`);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

function paxHeader(data: Buffer): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write('././@PaxHeader', 0, 'latin1');
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, data.length);
  writeOctal(block, 136, 12, 0);
  block.write('x', 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  writeChecksum(block);
  return block;
}

/** Pax records as [key, raw value]; undefined when they do not parse (tar-stream will then decide). */
function parsePaxRecords(data: Buffer): Array<[string, Buffer]> | undefined {
  const records: Array<[string, Buffer]> = [];
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) return data.subarray(pos).every((b) => b === 0) ? records : undefined;
    const length = parseInt(data.toString('latin1', pos, space), 10);
    if (!length || pos + length > data.length) return data.subarray(pos).every((b) => b === 0) ? records : undefined;
    const record = data.subarray(space + 1, pos + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) return undefined;
    records.push([record.toString('latin1', 0, eq), record.subarray(eq + 1)]);
    pos += length;
  }
  return records;
}

type State = 'header' | 'pax' | 'sparse-extension';

const ZERO_BLOCK = Buffer.alloc(BLOCK);

/**
 * See the module comment. Everything but the rewritten headers passes through untouched, and in the
 * chunks it came in: a layer of a hundred thousand entries costs a header check per entry, not a push.
 */
export function normalizeTarStream(): Transform {
  let state: State = 'header';
  let held: Buffer[] = [];
  let heldBytes = 0;
  let need = BLOCK;
  let dataLeft = 0;
  let passthrough = false;
  let paxSize: number | undefined;
  let pendingHeader: Buffer | undefined;
  let sparseMap: number[] = [];

  function take(): Buffer {
    const block = held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    return block;
  }

  function sparseReplacement(header: Buffer): Buffer[] {
    const realSize = readTarNumber(header, 483, 12);
    const size = readTarNumber(header, 124, 12);
    const pax = Buffer.concat([
      paxRecord('GNU.sparse.major', '0'),
      paxRecord('GNU.sparse.minor', '1'),
      paxRecord('GNU.sparse.size', String(realSize)),
      paxRecord('GNU.sparse.map', sparseMap.join(',')),
    ]);
    const rewritten = Buffer.from(header);
    rewritten.write('0', 156, 'latin1');
    rewritten.fill(0, 345, BLOCK);
    writeChecksum(rewritten);
    dataLeft = padded(paxSize ?? size);
    paxSize = undefined;
    return [paxHeader(pax), Buffer.concat([pax, Buffer.alloc(padded(pax.length) - pax.length)]), rewritten];
  }

  function readSparseEntries(block: Buffer, offset: number, count: number): void {
    for (let i = 0; i < count; i++) {
      const at = offset + i * 24;
      if (block[at] === 0) continue;
      sparseMap.push(readTarNumber(block, at, 12), readTarNumber(block, at + 12, 12));
    }
  }

  /** The pax header and its data, with values that are not UTF-8 escaped (and the size fixed). */
  function paxReplacement(header: Buffer, block: Buffer): Buffer[] {
    const data = block.subarray(0, readTarNumber(header, 124, 12));
    const records = parsePaxRecords(data);
    if (!records) return [header, block];
    let changed = false;
    const rebuilt: Buffer[] = [];
    for (const [key, value] of records) {
      if (key === 'size' && /^\d+$/.test(value.toString('latin1'))) paxSize = Number(value.toString('latin1'));
      let text = value.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(value)) {
        text = escapeInvalidUtf8(value);
        changed = true;
      }
      rebuilt.push(paxRecord(key, text));
    }
    if (!changed) return [header, block];
    const newData = Buffer.concat(rebuilt);
    const newHeader = Buffer.from(header);
    writeOctal(newHeader, 124, 12, newData.length);
    writeChecksum(newHeader);
    return [newHeader, Buffer.concat([newData, Buffer.alloc(padded(newData.length) - newData.length)])];
  }

  /**
   * Takes one header block (or pax data, or a sparse extension block). Returns undefined when the block
   * goes out as it came, else what goes out instead (possibly nothing yet: it is held).
   */
  function onBlock(block: Buffer): Buffer[] | undefined {
    if (state === 'pax') {
      const header = pendingHeader!;
      pendingHeader = undefined;
      state = 'header';
      need = BLOCK;
      return paxReplacement(header, block);
    }
    if (state === 'sparse-extension') {
      readSparseEntries(block, 0, 21);
      if (block[504] !== 0) return []; // another extension block follows
      const header = pendingHeader!;
      pendingHeader = undefined;
      state = 'header';
      return sparseReplacement(header);
    }
    if (block.equals(ZERO_BLOCK)) return undefined;
    if (!isTarHeader(block)) {
      // not ours to judge: tar-stream reports the bad header
      passthrough = true;
      return undefined;
    }
    const typeflag = block[156];
    const size = readTarNumber(block, 124, 12);
    if (typeflag === 0x78 /* x */ && size <= MAX_PAX_BYTES) {
      pendingHeader = block;
      state = 'pax';
      need = padded(size);
      if (need === 0) return onBlock(Buffer.alloc(0));
      return [];
    }
    if (typeflag === 0x53 /* S */) {
      sparseMap = [];
      readSparseEntries(block, 386, 4);
      if (block[482] !== 0) {
        pendingHeader = block;
        state = 'sparse-extension';
        return [];
      }
      return sparseReplacement(block);
    }
    if (typeflag === 0x78 || typeflag === 0x67 /* g */ || typeflag === 0x4c /* L */ || typeflag === 0x4b /* K */) {
      dataLeft = padded(size);
      return undefined;
    }
    // as tar-stream: a directory has no data; the size of a pax record wins
    dataLeft = typeflag === 0x35 /* 5 */ ? 0 : padded(paxSize ?? size);
    paxSize = undefined;
    return undefined;
  }

  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      try {
        // chunk[passStart, pos) goes out unchanged, in one push
        let passStart = 0;
        let pos = 0;
        const flushPass = (end: number) => {
          if (end > passStart) this.push(passStart === 0 && end === chunk.length ? chunk : chunk.subarray(passStart, end));
        };
        while (pos < chunk.length && !passthrough) {
          if (dataLeft > 0) {
            const n = Math.min(dataLeft, chunk.length - pos);
            dataLeft -= n;
            pos += n;
            continue;
          }
          if (heldBytes === 0 && chunk.length - pos >= need) {
            // the whole block is in this chunk
            const blockStart = pos;
            pos += need;
            const out = onBlock(chunk.subarray(blockStart, pos));
            if (out) {
              flushPass(blockStart);
              for (const b of out) this.push(b);
              passStart = pos;
            }
            continue;
          }
          // a block split across chunks: hold its parts out of the pass-through
          flushPass(pos);
          const n = Math.min(need - heldBytes, chunk.length - pos);
          held.push(chunk.subarray(pos, pos + n));
          heldBytes += n;
          pos += n;
          passStart = pos;
          if (heldBytes === need) {
            const block = take();
            const out = onBlock(block) ?? [block];
            for (const b of out) this.push(b);
          }
        }
        flushPass(chunk.length);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      // a stream that ends early: hand over what was held, tar-stream reports the truncation
      if (pendingHeader) this.push(pendingHeader);
      if (heldBytes > 0) this.push(take());
      callback();
    },
  });
}
