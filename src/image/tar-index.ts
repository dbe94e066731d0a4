import { open, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { inputError } from '../errors.js';

/** One member of a tar file, located by byte offset so it can be read without scanning the archive. */
export interface TarMember {
  name: string;
  kind: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  size: number;
  dataOffset: number;
  linkName: string;
}

const BLOCK = 512;
/** Large reads: fewer round trips through the thread pool when streaming multi-gigabyte layers. */
export const READ_CHUNK = 1 << 20;

function readString(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end === -1 || end > offset + length ? offset + length : end);
}

/** Numeric tar fields are octal text, or big-endian base-256 when the top bit of the first byte is set. */
export function readTarNumber(block: Buffer, offset: number, length: number): number {
  if (block[offset]! & 0x80) {
    let value = block[offset]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[offset + i]!;
    return value;
  }
  const text = readString(block, offset, length).trim();
  if (text === '') return 0;
  const value = parseInt(text, 8);
  if (Number.isNaN(value)) throw new Error(`bad numeric field "${text}"`);
  return value;
}

export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  const stored = readTarNumberSafe(block, 148, 8);
  if (stored === undefined) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === stored;
}

function readTarNumberSafe(block: Buffer, offset: number, length: number): number | undefined {
  try {
    return readTarNumber(block, offset, length);
  } catch {
    return undefined;
  }
}

function parsePax(data: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = parseInt(data.toString('utf8', pos, space), 10);
    if (!length || length <= 0) break;
    const record = data.toString('utf8', space + 1, pos + length - 1);
    const eq = record.indexOf('=');
    if (eq > 0) fields[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return fields;
}

export function normalizeMemberName(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  while (n.startsWith('/')) n = n.slice(1);
  while (n.endsWith('/')) n = n.slice(0, -1);
  return n;
}

/**
 * Random-access view of a tar file: reads only the 512-byte headers (seeking over member data), so
 * opening a multi-gigabyte `docker save` archive costs a few milliseconds, not a full read.
 */
export class TarFileIndex {
  private constructor(
    readonly path: string,
    private readonly members: Map<string, TarMember>,
  ) {}

  /** every member, in the order the tar holds them */
  list(): TarMember[] {
    return [...this.members.values()].sort((a, b) => a.dataOffset - b.dataOffset);
  }

  /**
   * `within`: a tar stored inside the file (a layer in a `docker save` archive), from byte `start` for
   * `size` bytes; member offsets stay offsets in the file.
   */
  static async open(path: string, describe = path, within?: { start: number; size: number }): Promise<TarFileIndex> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw inputError(`cannot open ${describe}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      const fileSize = within ? within.start + within.size : (await handle.stat()).size;
      const members = new Map<string, TarMember>();
      const header = Buffer.alloc(BLOCK);
      const reader = new WindowedReader(handle, fileSize);
      let position = within?.start ?? 0;
      let pending: { path?: string; linkpath?: string; size?: number; sparse?: boolean } = {};
      let first = true;
      while (position + BLOCK <= fileSize) {
        await reader.read(header, position);
        if (header.every((b) => b === 0)) break;
        if (!isTarHeader(header)) {
          if (first) throw inputError(`${describe} is not a tar archive`);
          throw inputError(`${describe} is corrupt: bad tar header at byte ${position}`);
        }
        first = false;
        const typeflag = String.fromCharCode(header[156]!);
        let size = readTarNumber(header, 124, 12);
        const dataOffset = position + BLOCK;
        const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
        if (typeflag === 'x' || typeflag === 'L' || typeflag === 'K') {
          const data = Buffer.alloc(size);
          await reader.read(data, dataOffset);
          if (typeflag === 'x') {
            const pax = parsePax(data);
            if (pax.path !== undefined) pending.path = pax.path;
            if (pax.linkpath !== undefined) pending.linkpath = pax.linkpath;
            if (pax.size !== undefined) pending.size = Number(pax.size);
            // GNU sparse files in pax form: the data is a map and fragments, not the content
            if (Object.keys(pax).some((k) => k.startsWith('GNU.sparse.'))) pending.sparse = true;
          } else if (typeflag === 'L') {
            pending.path = readString(data, 0, data.length);
          } else {
            pending.linkpath = readString(data, 0, data.length);
          }
          position = next;
          continue;
        }
        if (typeflag === 'g') {
          position = next;
          continue;
        }
        if (pending.size !== undefined) size = pending.size;
        // POSIX ustar ("ustar\0") has a name prefix at 345; GNU tar ("ustar  ") keeps times there instead
        const posix = header.toString('latin1', 257, 263) === 'ustar\0';
        const prefix = posix ? readString(header, 345, 155) : '';
        const rawName = pending.path ?? (prefix ? `${prefix}/${readString(header, 0, 100)}` : readString(header, 0, 100));
        const linkName = pending.linkpath ?? readString(header, 157, 100);
        const kind: TarMember['kind'] = pending.sparse
          ? 'other'
          : typeflag === '0' || typeflag === '\0' || typeflag === '7'
            ? 'file'
            : typeflag === '5'
              ? 'directory'
              : typeflag === '2'
                ? 'symlink'
                : typeflag === '1'
                  ? 'hardlink'
                  : 'other';
        if (dataOffset + (kind === 'file' ? size : 0) > fileSize) {
          throw inputError(`${describe} is truncated: member ${rawName} needs ${size} bytes past the end of the file`);
        }
        members.set(normalizeMemberName(rawName), { name: normalizeMemberName(rawName), kind, size, dataOffset, linkName });
        pending = {};
        position = kind === 'file' ? dataOffset + Math.ceil(size / BLOCK) * BLOCK : next;
      }
      if (first) throw inputError(`${describe} is not a tar archive (empty or no valid header)`);
      if (position < fileSize && position + BLOCK > fileSize) {
        throw inputError(`${describe} is truncated: it ends inside a tar header at byte ${position}`);
      }
      return new TarFileIndex(path, members);
    } finally {
      await handle.close();
    }
  }

  names(): string[] {
    return [...this.members.keys()];
  }

  /** The member at `name`, following symlinked members (docker save links duplicate layers). */
  get(name: string): TarMember | undefined {
    let current = this.members.get(normalizeMemberName(name));
    for (let hops = 0; current && current.kind !== 'file' && hops < 16; hops++) {
      if (current.kind === 'symlink') {
        const base = current.name.includes('/') ? current.name.slice(0, current.name.lastIndexOf('/')) : '';
        current = this.members.get(resolveRelative(base, current.linkName));
      } else if (current.kind === 'hardlink') {
        current = this.members.get(normalizeMemberName(current.linkName));
      } else {
        return current;
      }
    }
    return current;
  }

  openMember(member: TarMember): Readable {
    if (member.size === 0) return Readable.from([]);
    return createReadStream(this.path, { start: member.dataOffset, end: member.dataOffset + member.size - 1, highWaterMark: READ_CHUNK });
  }

  async readMember(member: TarMember): Promise<Buffer> {
    const handle = await open(this.path, 'r');
    try {
      const data = Buffer.alloc(member.size);
      await readFully(handle, data, member.dataOffset);
      return data;
    } finally {
      await handle.close();
    }
  }
}

function resolveRelative(base: string, target: string): string {
  const parts = target.startsWith('/') ? [] : base.split('/').filter(Boolean);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

/**
 * Reads through a window of WINDOW bytes, so the headers of many small members (a layer of 20,000 files)
 * cost a read per window, not one each.
 */
class WindowedReader {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly end: number,
  ) {}

  async read(buffer: Buffer, position: number): Promise<void> {
    const inWindow = position >= this.windowStart && position + buffer.length <= this.windowStart + this.window.length;
    if (!inWindow) {
      if (buffer.length > WINDOW) return readFully(this.handle, buffer, position);
      const length = Math.max(buffer.length, Math.min(WINDOW, this.end - position));
      const window = Buffer.alloc(length);
      await readFully(this.handle, window, position);
      this.window = window;
      this.windowStart = position;
    }
    this.window.copy(buffer, 0, position - this.windowStart, position - this.windowStart + buffer.length);
  }
}

const WINDOW = 256 * 1024;

async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) throw inputError(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}
