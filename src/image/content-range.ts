import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';

/**
 * Where a file's content lies: `size` bytes from `start` in a file on disk. A file of an uncompressed
 * layer is served this way straight from the spooled `docker save` archive, so nothing is copied out.
 */
export interface ContentRange {
  file: string;
  start: number;
  size: number;
}

export function openRange(range: ContentRange): Readable {
  if (range.size === 0) return Readable.from([]);
  return createReadStream(range.file, { start: range.start, end: range.start + range.size - 1, highWaterMark: 1 << 20 });
}

/** Up to `length` bytes from `offset` within the range (fewer at its end). */
export async function readRange(range: ContentRange, offset = 0, length = range.size): Promise<Buffer> {
  const wanted = Math.max(0, Math.min(length, range.size - offset));
  const buffer = Buffer.alloc(wanted);
  if (wanted === 0) return buffer;
  const handle = await open(range.file, 'r');
  try {
    let filled = 0;
    while (filled < wanted) {
      const { bytesRead } = await handle.read(buffer, filled, wanted - filled, range.start + offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

export async function sha256Range(range: ContentRange): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of openRange(range)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}
