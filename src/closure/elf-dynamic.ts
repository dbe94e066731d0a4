import type { RandomAccessFile } from '../image/image-fs.js';

/** What the dynamic loader needs to know about an ELF object: its interpreter and its dependencies. */
export interface ElfDynamicInfo {
  bits: 32 | 64;
  endian: 'little' | 'big';
  /** e_type: 1 relocatable, 2 executable, 3 shared object (libraries and PIEs), 4 core */
  type: number;
  /** e_machine: 62 x86-64, 183 aarch64, 3 i386, 40 arm, ... */
  machine: number;
  /** the PT_INTERP path (`/lib64/ld-linux-x86-64.so.2`) */
  interpreter?: string;
  /** true when the object has a PT_DYNAMIC segment (false for static executables) */
  dynamic: boolean;
  /** every DT_NEEDED, in order */
  needed: string[];
  /** DT_RPATH as written (colon separated, tokens like `$ORIGIN` unexpanded) */
  rpath?: string;
  /** DT_RUNPATH as written */
  runpath?: string;
  soname?: string;
  /** DT_FLAGS_1 */
  flags1?: number;
  /** DT_FLAGS_1 has DF_1_PIE */
  pie: boolean;
  /** what could not be read (a truncated or corrupt file); the fields above hold what could */
  problems: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PN_XNUM = 0xffff;

const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;

export const DF_1_NODEFLIB = 0x800;
export const DF_1_PIE = 0x08000000;

/** Bounds that keep a corrupt header from asking for absurd reads. */
const MAX_PROGRAM_HEADERS_BYTES = 1 << 20;
const MAX_DYNAMIC_BYTES = 1 << 20;
const MAX_STRING_BYTES = 1 << 16;

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

/** Integer reads of one ELF class and byte order; 64-bit values beyond 2^53 come back as NaN. */
class Decoder {
  constructor(
    readonly is64: boolean,
    readonly little: boolean,
  ) {}

  u16(buf: Buffer, o: number): number {
    return this.little ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
  }

  u32(buf: Buffer, o: number): number {
    return this.little ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
  }

  /** an address, offset or size: 4 bytes in ELF32, 8 in ELF64 */
  word(buf: Buffer, o: number): number {
    if (!this.is64) return this.u32(buf, o);
    const value = Number(this.little ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
    return Number.isSafeInteger(value) ? value : NaN;
  }
}

/**
 * Reads the interpreter and the dynamic section of an ELF file with positional reads only (the header,
 * the program headers, the dynamic segment and the few strings it points to), so a huge library costs
 * a handful of small reads. Undefined when the file is not ELF; a truncated or corrupt file gives what
 * could be read, with `problems`.
 */
export async function readElfDynamic(file: RandomAccessFile): Promise<ElfDynamicInfo | undefined> {
  const problems: string[] = [];
  const read = async (offset: number, length: number): Promise<Buffer> => {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= file.size || length <= 0) return Buffer.alloc(0);
    try {
      return await file.read(offset, Math.min(length, file.size - offset));
    } catch (err) {
      problems.push(`read of ${length} bytes at ${offset} failed: ${(err as Error).message}`);
      return Buffer.alloc(0);
    }
  };

  const ident = await read(0, 64);
  if (ident.length < 4 || ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) return undefined;
  const info: ElfDynamicInfo = { bits: 64, endian: 'little', type: 0, machine: 0, dynamic: false, needed: [], pie: false, problems };
  if (ident.length < 6 || (ident[4] !== 1 && ident[4] !== 2) || (ident[5] !== 1 && ident[5] !== 2)) {
    problems.push(ident.length < 6 ? 'truncated ELF identification' : `unsupported ELF class ${ident[4]} or data encoding ${ident[5]}`);
    return info;
  }
  const d = new Decoder(ident[4] === 2, ident[5] === 1);
  info.bits = d.is64 ? 64 : 32;
  info.endian = d.little ? 'little' : 'big';
  const headerSize = d.is64 ? 64 : 52;
  if (ident.length < headerSize) {
    problems.push(`truncated ELF header (${ident.length} of ${headerSize} bytes)`);
    return info;
  }
  info.type = d.u16(ident, 16);
  info.machine = d.u16(ident, 18);

  const segments = await readProgramHeaders(ident, d, read, problems);
  const interp = segments.find((s) => s.type === PT_INTERP);
  if (interp) {
    const bytes = await read(interp.offset, Math.min(interp.filesz, 4096));
    if (bytes.length === 0) problems.push('PT_INTERP lies outside the file');
    else info.interpreter = cString(bytes);
  }
  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  if (dynamic) {
    info.dynamic = true;
    await readDynamic(info, dynamic, segments, d, read);
  }
  return info;
}

type Read = (offset: number, length: number) => Promise<Buffer>;

async function readProgramHeaders(header: Buffer, d: Decoder, read: Read, problems: string[]): Promise<Segment[]> {
  const phoff = d.word(header, d.is64 ? 32 : 28);
  const phentsize = d.u16(header, d.is64 ? 54 : 42);
  let phnum = d.u16(header, d.is64 ? 56 : 44);
  if (phnum === PN_XNUM) phnum = await extendedPhnum(header, d, read);
  if (phnum === 0) return [];
  const minimum = d.is64 ? 56 : 32;
  if (phentsize < minimum || Number.isNaN(phoff)) {
    problems.push(`bad program header table (offset ${phoff}, entry size ${phentsize})`);
    return [];
  }
  const wanted = Math.min(phentsize * phnum, MAX_PROGRAM_HEADERS_BYTES);
  const table = await read(phoff, wanted);
  if (table.length < phentsize * phnum) problems.push(`truncated program header table (${table.length} of ${phentsize * phnum} bytes)`);
  const segments: Segment[] = [];
  for (let o = 0; o + minimum <= table.length; o += phentsize) {
    const type = d.u32(table, o);
    segments.push(
      d.is64
        ? { type, offset: d.word(table, o + 8), vaddr: d.word(table, o + 16), filesz: d.word(table, o + 32) }
        : { type, offset: d.u32(table, o + 4), vaddr: d.u32(table, o + 8), filesz: d.u32(table, o + 16) },
    );
  }
  return segments;
}

/** With more than 0xfffe program headers, the count is in section header 0's sh_info. */
async function extendedPhnum(header: Buffer, d: Decoder, read: Read): Promise<number> {
  const shoff = d.word(header, d.is64 ? 40 : 32);
  const section0 = await read(shoff, d.is64 ? 64 : 40);
  const at = d.is64 ? 44 : 28;
  return section0.length >= at + 4 ? d.u32(section0, at) : 0;
}

async function readDynamic(info: ElfDynamicInfo, dynamic: Segment, segments: Segment[], d: Decoder, read: Read): Promise<void> {
  const { problems } = info;
  const entrySize = d.is64 ? 16 : 8;
  if (dynamic.filesz > MAX_DYNAMIC_BYTES) problems.push(`PT_DYNAMIC of ${dynamic.filesz} bytes, reading the first ${MAX_DYNAMIC_BYTES}`);
  const table = await read(dynamic.offset, Math.min(dynamic.filesz, MAX_DYNAMIC_BYTES));
  if (table.length < Math.min(dynamic.filesz, MAX_DYNAMIC_BYTES)) problems.push(`truncated dynamic section (${table.length} of ${dynamic.filesz} bytes)`);

  const strings: Array<{ tag: number; value: number }> = [];
  let strtab: number | undefined;
  let strsz: number | undefined;
  for (let o = 0; o + entrySize <= table.length; o += entrySize) {
    const tag = d.word(table, o);
    const value = d.word(table, o + entrySize / 2);
    if (tag === DT_NULL) break;
    if (tag === DT_STRTAB) strtab = value;
    else if (tag === DT_STRSZ) strsz = value;
    else if (tag === DT_FLAGS_1) info.flags1 = value;
    else if (tag === DT_NEEDED || tag === DT_SONAME || tag === DT_RPATH || tag === DT_RUNPATH) strings.push({ tag, value });
  }
  info.pie = info.flags1 !== undefined && (info.flags1 & DF_1_PIE) !== 0;
  if (strings.length === 0) return;
  if (strtab === undefined) {
    problems.push('dynamic section has no DT_STRTAB');
    return;
  }
  const base = fileOffsetOf(strtab, segments);
  if (base === undefined) {
    problems.push(`DT_STRTAB address 0x${strtab.toString(16)} is in no PT_LOAD segment`);
    return;
  }
  for (const { tag, value } of strings) {
    const limit = strsz === undefined ? MAX_STRING_BYTES : Math.min(MAX_STRING_BYTES, strsz - value);
    const text = limit > 0 && Number.isSafeInteger(value) ? await readString(read, base + value, limit) : undefined;
    if (text === undefined) {
      problems.push(`string at offset ${value} of the dynamic string table could not be read`);
      continue;
    }
    if (tag === DT_NEEDED) info.needed.push(text);
    else if (tag === DT_SONAME) info.soname = text;
    else if (tag === DT_RPATH) info.rpath = text;
    else info.runpath = text;
  }
}

/** Maps a virtual address to a file offset through the PT_LOAD segment holding it. */
function fileOffsetOf(vaddr: number, segments: Segment[]): number | undefined {
  for (const s of segments) {
    if (s.type === PT_LOAD && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return s.offset + (vaddr - s.vaddr);
  }
  return undefined;
}

/** A NUL-terminated string, read in growing chunks; undefined when no NUL comes within `limit` bytes. */
async function readString(read: Read, offset: number, limit: number): Promise<string | undefined> {
  for (let chunk = Math.min(256, limit); ; chunk = Math.min(chunk * 4, limit)) {
    const bytes = await read(offset, chunk);
    const end = bytes.indexOf(0);
    if (end !== -1) return bytes.subarray(0, end).toString('utf8');
    if (bytes.length < chunk || chunk >= limit) return undefined;
  }
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}
