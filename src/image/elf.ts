/** What the first bytes of a file say about it as an ELF object. */
export type ElfKind = 'executable' | 'shared-library' | 'object' | 'core' | 'other';

const PT_INTERP = 3;

/**
 * Classifies an ELF file from its first bytes (the header and, when they fit, the program headers).
 * Position-independent executables are ET_DYN like libraries; what sets them apart is a PT_INTERP
 * program header, so that is looked for.
 */
export function classifyElf(head: Buffer): ElfKind | undefined {
  if (head.length < 52 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined;
  const is64 = head[4] === 2;
  const little = head[5] !== 2;
  const u16 = (o: number) => (little ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number) => (little ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const type = u16(16);
  if (type === 1) return 'object';
  if (type === 4) return 'core';
  if (type === 2) return 'executable';
  if (type !== 3) return 'other';
  if (is64 && head.length < 64) return 'shared-library';
  const phoff = is64 ? Number(little ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32)) : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  for (let i = 0; i < phnum; i++) {
    const offset = phoff + i * phentsize;
    if (offset + 4 > head.length) break;
    if (u32(offset) === PT_INTERP) return 'executable';
  }
  return 'shared-library';
}

/** Enough bytes for the ELF header plus the program headers of ordinary binaries. */
export const ELF_HEAD_BYTES = 4096;
