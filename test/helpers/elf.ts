export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;

/** A minimal ELF header: class 1 (32-bit) or 2 (64-bit), e_type, and optionally program headers of the given types. */
export function elfHeader(options: { is64?: boolean; bigEndian?: boolean; type: number; phTypes?: number[] }): Buffer {
  const is64 = options.is64 ?? true;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const phTypes = options.phTypes ?? [];
  const buf = Buffer.alloc(ehsize + phentsize * phTypes.length);
  buf.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, options.bigEndian ? 2 : 1, 1], 0);
  const u16 = (v: number, o: number) => (options.bigEndian ? buf.writeUInt16BE(v, o) : buf.writeUInt16LE(v, o));
  const u32 = (v: number, o: number) => (options.bigEndian ? buf.writeUInt32BE(v, o) : buf.writeUInt32LE(v, o));
  u16(options.type, 16);
  u16(is64 ? 62 : 3, 18); // e_machine
  if (is64) {
    if (options.bigEndian) buf.writeBigUInt64BE(BigInt(ehsize), 32);
    else buf.writeBigUInt64LE(BigInt(ehsize), 32);
    u16(phentsize, 54);
    u16(phTypes.length, 56);
  } else {
    u32(ehsize, 28);
    u16(phentsize, 42);
    u16(phTypes.length, 44);
  }
  phTypes.forEach((t, i) => u32(t, ehsize + i * phentsize));
  return buf;
}

/** The head of a typical dynamically linked executable (PIE) and of a shared library. */
export const PIE_EXECUTABLE = (): Buffer => elfHeader({ type: 3, phTypes: [PT_LOAD, PT_INTERP, PT_DYNAMIC] });
export const SHARED_LIBRARY = (): Buffer => elfHeader({ type: 3, phTypes: [PT_LOAD, PT_DYNAMIC] });
