import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DirImageFs } from '../../src/closure/dir-image-fs.js';
import { readElfDynamic, type ElfDynamicInfo } from '../../src/closure/elf-dynamic.js';
import type { RandomAccessFile } from '../../src/image/image-fs.js';

/** A RandomAccessFile over a buffer; `size` may claim more than the buffer holds (a lying header). */
function bufferFile(bytes: Buffer, size = bytes.length): RandomAccessFile {
  return { size, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** Reads through a host file, counting what was read. */
function countingFile(path: string): { file: RandomAccessFile; bytes: () => number; maxOffset: () => number } {
  let bytes = 0;
  let maxOffset = 0;
  const host = new DirImageFs('/');
  const file: RandomAccessFile = {
    size: statSync(path).size,
    async read(offset, length) {
      const opened = await host.open(path);
      const chunk = await opened!.read(offset, length);
      bytes += chunk.length;
      maxOffset = Math.max(maxOffset, offset);
      return chunk;
    },
  };
  return { file, bytes: () => bytes, maxOffset: () => maxOffset };
}

async function parseHost(path: string): Promise<ElfDynamicInfo | undefined> {
  const file = await new DirImageFs('/').open(path);
  assert.ok(file, `${path} opens`);
  return readElfDynamic(file);
}

/** What readelf says about the same fields. */
function readelf(path: string) {
  const dynamic = execFileSync('readelf', ['-d', '-W', path], { encoding: 'utf8' });
  const program = execFileSync('readelf', ['-l', '-W', path], { encoding: 'utf8' });
  const one = (re: RegExp) => re.exec(dynamic)?.[1];
  return {
    needed: [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1]),
    soname: one(/\(SONAME\)\s+Library soname: \[(.*)\]/),
    rpath: one(/\(RPATH\)\s+Library rpath: \[(.*)\]/),
    runpath: one(/\(RUNPATH\)\s+Library runpath: \[(.*)\]/),
    pie: (one(/\(FLAGS_1\)\s+Flags: (.*)/) ?? '').split(/\s+/).includes('PIE'),
    interpreter: /\[Requesting program interpreter: (.*)\]/.exec(program)?.[1],
    dynamic: !/There is no dynamic section/.test(dynamic),
  };
}

interface SynthOptions {
  is64: boolean;
  bigEndian: boolean;
  interpreter?: string;
  needed?: string[];
  soname?: string;
  rpath?: string;
  runpath?: string;
  flags1?: number;
}

/** A small but complete ELF: header, PT_LOAD (the whole file), PT_INTERP, PT_DYNAMIC, a string table. */
function synthElf(o: SynthOptions): Buffer {
  const ehsize = o.is64 ? 64 : 52;
  const phentsize = o.is64 ? 56 : 32;
  const dynEntry = o.is64 ? 16 : 8;
  const base = 0x400000;
  const phdrs = o.interpreter === undefined ? 2 : 3;
  const strings: string[] = [];
  const strOffset = (s: string) => {
    const before = strings.join('\0');
    strings.push(s);
    return strings.length === 1 ? 1 : before.length + 2;
  };
  const entries: Array<[number, number]> = [];
  for (const n of o.needed ?? []) entries.push([1, strOffset(n)]);
  if (o.soname !== undefined) entries.push([14, strOffset(o.soname)]);
  if (o.rpath !== undefined) entries.push([15, strOffset(o.rpath)]);
  if (o.runpath !== undefined) entries.push([29, strOffset(o.runpath)]);
  if (o.flags1 !== undefined) entries.push([0x6ffffffb, o.flags1]);
  const strtab = Buffer.from(`\0${strings.join('\0')}\0`);
  const interp = o.interpreter === undefined ? Buffer.alloc(0) : Buffer.from(`${o.interpreter}\0`);
  const interpAt = ehsize + phdrs * phentsize;
  const strtabAt = interpAt + interp.length;
  const dynAt = Math.ceil((strtabAt + strtab.length) / 8) * 8;
  // DT_STRTAB and DT_STRSZ come after the strings that use them, as in real files
  entries.push([5, base + strtabAt], [10, strtab.length], [0, 0]);
  const size = dynAt + entries.length * dynEntry;
  const buf = Buffer.alloc(size);
  const be = o.bigEndian;
  const u16 = (v: number, at: number) => (be ? buf.writeUInt16BE(v, at) : buf.writeUInt16LE(v, at));
  const u32 = (v: number, at: number) => (be ? buf.writeUInt32BE(v, at) : buf.writeUInt32LE(v, at));
  const word = (v: number, at: number) => {
    if (!o.is64) return u32(v, at);
    return be ? buf.writeBigUInt64BE(BigInt(v), at) : buf.writeBigUInt64LE(BigInt(v), at);
  };
  buf.set([0x7f, 0x45, 0x4c, 0x46, o.is64 ? 2 : 1, be ? 2 : 1, 1], 0);
  u16(3, 16);
  u16(o.is64 ? 62 : 3, 18);
  word(ehsize, o.is64 ? 32 : 28);
  u16(phentsize, o.is64 ? 54 : 42);
  u16(phdrs, o.is64 ? 56 : 44);
  const phdr = (i: number, type: number, offset: number, filesz: number) => {
    const at = ehsize + i * phentsize;
    u32(type, at);
    if (o.is64) {
      word(offset, at + 8);
      word(base + offset, at + 16);
      word(filesz, at + 32);
    } else {
      word(offset, at + 4);
      word(base + offset, at + 8);
      word(filesz, at + 16);
    }
  };
  phdr(0, 1, 0, size);
  phdr(1, 2, dynAt, entries.length * dynEntry);
  if (o.interpreter !== undefined) phdr(2, 3, interpAt, interp.length);
  interp.copy(buf, interpAt);
  strtab.copy(buf, strtabAt);
  entries.forEach(([tag, value], i) => {
    word(tag, dynAt + i * dynEntry);
    word(value, dynAt + i * dynEntry + dynEntry / 2);
  });
  return buf;
}

const SYNTH: Omit<SynthOptions, 'is64' | 'bigEndian'> = {
  interpreter: '/lib/ld-musl-x86_64.so.1',
  needed: ['libfoo.so.1', 'libc.musl-x86_64.so.1'],
  soname: 'libsynth.so.2',
  rpath: '/opt/r',
  runpath: '$ORIGIN/../lib:/opt/x',
  flags1: 0x08000001,
};

describe('readElfDynamic on this host\'s binaries', () => {
  let tmp: string;
  const built: Record<string, string> = {};

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'slim-elf-dynamic-'));
    writeFileSync(join(tmp, 'lib.c'), 'int foo(void) { return 1; }\n');
    writeFileSync(join(tmp, 'main.c'), 'int foo(void);\nint main(void) { return foo(); }\n');
    writeFileSync(join(tmp, 'plain.c'), 'int main(void) { return 0; }\n');
    const gcc = (args: string[]) => execFileSync('gcc', args, { cwd: tmp, stdio: 'pipe' });
    gcc(['-shared', '-fPIC', '-o', 'librpath.so', 'lib.c', '-Wl,-soname,librpath.so.1', '-Wl,--disable-new-dtags', '-Wl,-rpath,$ORIGIN/../lib']);
    gcc(['-shared', '-fPIC', '-o', 'librunpath.so', 'lib.c', '-Wl,--enable-new-dtags', '-Wl,-rpath,$ORIGIN/../lib:/opt/x']);
    gcc(['-o', 'exe-runpath', 'main.c', '-L.', '-lrunpath', '-Wl,--enable-new-dtags', '-Wl,-rpath,${ORIGIN}']);
    built.rpath = join(tmp, 'librpath.so');
    built.runpath = join(tmp, 'librunpath.so');
    built.exe = join(tmp, 'exe-runpath');
    try {
      gcc(['-static', '-o', 'static', 'plain.c']);
      built.static = join(tmp, 'static');
    } catch {
      // no static libc on this host
    }
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('/bin/ls: interpreter, DT_NEEDED with libc.so.6, PIE', async () => {
    const info = await parseHost('/bin/ls');
    assert.ok(info);
    assert.equal(info.interpreter, '/lib64/ld-linux-x86-64.so.2');
    assert.ok(info.needed.includes('libc.so.6'));
    assert.equal(info.pie, true);
    assert.equal(info.bits, 64);
    assert.equal(info.endian, 'little');
    assert.equal(info.machine, 62);
    assert.deepEqual(info.problems, []);
  });

  test('libc.so.6 has SONAME libc.so.6 and no interpreter', async () => {
    const info = await parseHost('/lib/x86_64-linux-gnu/libc.so.6');
    assert.equal(info?.soname, 'libc.so.6');
    assert.equal(info?.pie, false);
  });

  test('RPATH and RUNPATH of gcc-built libraries, tokens unexpanded', async () => {
    const rpath = await parseHost(built.rpath!);
    assert.equal(rpath?.rpath, '$ORIGIN/../lib');
    assert.equal(rpath?.runpath, undefined);
    assert.equal(rpath?.soname, 'librpath.so.1');
    const runpath = await parseHost(built.runpath!);
    assert.equal(runpath?.runpath, '$ORIGIN/../lib:/opt/x');
    assert.equal(runpath?.rpath, undefined);
    const exe = await parseHost(built.exe!);
    assert.deepEqual(exe?.needed.slice(0, 1), ['librunpath.so']);
    assert.equal(exe?.runpath, '${ORIGIN}');
  });

  test('agrees with readelf -d / -l on several binaries', async () => {
    const candidates = [
      '/bin/ls',
      '/usr/bin/node',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
      '/usr/lib/x86_64-linux-gnu/libstdc++.so.6',
      '/usr/lib/x86_64-linux-gnu/gconv/EUC-CN.so',
      '/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1',
      ...Object.values(built),
    ].filter((p) => existsSync(p));
    assert.ok(candidates.length >= 8, `only ${candidates.join(', ')}`);
    for (const path of candidates) {
      const info = await parseHost(path);
      assert.ok(info, path);
      const expected = readelf(realpathSync(path));
      const actual = {
        needed: info.needed,
        soname: info.soname,
        rpath: info.rpath,
        runpath: info.runpath,
        pie: info.pie,
        interpreter: info.interpreter,
        dynamic: info.dynamic,
      };
      assert.deepEqual(actual, expected, path);
      assert.deepEqual(info.problems, [], path);
    }
  });

  test('a library with RUNPATH from the distribution (gconv modules use $ORIGIN)', async () => {
    const path = '/usr/lib/x86_64-linux-gnu/gconv/EUC-CN.so';
    if (!existsSync(path)) return;
    const info = await parseHost(path);
    assert.equal(info?.runpath, '$ORIGIN');
  });

  test('node (~100 MB, .dynamic near the end) is parsed with a few small positional reads', async () => {
    const counting = countingFile(realpathSync('/usr/bin/node'));
    const info = await readElfDynamic(counting.file);
    assert.ok(info?.needed.includes('libc.so.6'));
    assert.ok(counting.bytes() < 64 * 1024, `read ${counting.bytes()} bytes`);
    assert.ok(counting.maxOffset() > counting.file.size / 2, 'the dynamic section was read where it is');
  });

  test('a static executable has no dynamic section and no interpreter', async (t) => {
    if (!built.static) return t.skip('no static libc');
    const info = await parseHost(built.static);
    assert.equal(info?.dynamic, false);
    assert.equal(info?.interpreter, undefined);
    assert.deepEqual(info?.needed, []);
  });
});

describe('readElfDynamic on synthetic files', () => {
  for (const is64 of [false, true]) {
    for (const bigEndian of [false, true]) {
      test(`ELF${is64 ? 64 : 32} ${bigEndian ? 'big' : 'little'} endian`, async () => {
        const info = await readElfDynamic(bufferFile(synthElf({ is64, bigEndian, ...SYNTH })));
        assert.ok(info);
        assert.equal(info.bits, is64 ? 64 : 32);
        assert.equal(info.endian, bigEndian ? 'big' : 'little');
        assert.equal(info.type, 3);
        assert.equal(info.interpreter, SYNTH.interpreter);
        assert.deepEqual(info.needed, SYNTH.needed);
        assert.equal(info.soname, SYNTH.soname);
        assert.equal(info.rpath, SYNTH.rpath);
        assert.equal(info.runpath, SYNTH.runpath);
        assert.equal(info.flags1, SYNTH.flags1);
        assert.equal(info.pie, true);
        assert.deepEqual(info.problems, []);
      });
    }
  }

  test('non-ELF files give undefined', async () => {
    assert.equal(await readElfDynamic(bufferFile(Buffer.from('#!/bin/sh\necho hi\n'))), undefined);
    assert.equal(await readElfDynamic(bufferFile(Buffer.alloc(0))), undefined);
    assert.equal(await readElfDynamic(bufferFile(Buffer.from([0x7f, 0x45, 0x4c]))), undefined);
    assert.equal(await readElfDynamic(bufferFile(Buffer.from('\x7fELG and then some text that is long enough'))), undefined);
  });

  test('every truncation of a synthetic ELF parses without throwing and says what is missing', async () => {
    for (const is64 of [false, true]) {
      const full = synthElf({ is64, bigEndian: false, ...SYNTH });
      for (let length = 4; length < full.length; length++) {
        const info = await readElfDynamic(bufferFile(full.subarray(0, length)));
        assert.ok(info, `length ${length}`);
        assert.ok(info.problems.length > 0, `length ${length} reports a problem`);
      }
    }
  });

  test('a header whose size lies (short reads) and a failing reader', async () => {
    const full = synthElf({ is64: true, bigEndian: true, ...SYNTH });
    const lying = await readElfDynamic(bufferFile(full.subarray(0, 200), full.length));
    assert.ok(lying && lying.problems.length > 0);
    let calls = 0;
    const failing: RandomAccessFile = {
      size: full.length,
      read: async (offset, length) => {
        if (calls++ > 0) throw new Error('layer blob went away');
        return full.subarray(offset, offset + length);
      },
    };
    const info = await readElfDynamic(failing);
    assert.ok(info);
    assert.match(info.problems.join('\n'), /layer blob went away/);
  });

  test('random corruption never throws', async () => {
    const full = synthElf({ is64: true, bigEndian: false, ...SYNTH });
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 500; round++) {
      const bytes = Buffer.from(full);
      for (let i = 0; i < 4; i++) bytes[4 + Math.floor(random() * (bytes.length - 4))] = Math.floor(random() * 256);
      const info = await readElfDynamic(bufferFile(bytes));
      assert.ok(info);
    }
  });

  test('truncated copies of /bin/ls never throw', async () => {
    const ls = readFileSync(realpathSync('/bin/ls'));
    for (const length of [4, 10, 40, 63, 64, 100, 500, 4096, Math.floor(ls.length / 2), ls.length - 1]) {
      const info = await readElfDynamic(bufferFile(ls.subarray(0, length)));
      assert.ok(info, `length ${length}`);
      if (length < 64) assert.ok(info.problems.length > 0);
    }
  });
});
