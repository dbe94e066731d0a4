import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';

/** One member of a tar as read back: its header exactly as tar-stream decodes it, and its data. */
export interface ReadEntry {
  header: Omit<Header, 'pax'> & { pax?: Record<string, string> | null };
  data: Buffer;
}

/** Reads every member of a tar (a buffer, or a file path) in order, with its data. */
export async function readTarEntries(source: Buffer | string): Promise<ReadEntry[]> {
  const data = typeof source === 'string' ? await readFile(source) : source;
  const extract = tar.extract();
  Readable.from([data]).pipe(extract);
  const entries: ReadEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    entries.push({ header: entry.header as ReadEntry['header'], data: Buffer.concat(chunks) });
  }
  return entries;
}

/** A deterministic, non-repeating-looking buffer (every 4 bytes hold their offset), to catch reordered or lost chunks. */
export function patternBuffer(size: number, seed = 0): Buffer {
  const buffer = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) buffer.writeUInt32LE((i + seed) >>> 0, i);
  for (let i = size - (size % 4); i < size; i++) buffer[i] = (i + seed) & 0xff;
  return buffer;
}
