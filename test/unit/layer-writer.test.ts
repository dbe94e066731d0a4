import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { gzipSize, writeLayer, type TarEntrySpec, type WrittenLayer } from '../../src/image/layer-writer.js';
import { tempDir } from '../helpers/images.js';
import { sha256 } from '../helpers/layers.js';
import { patternBuffer, readTarEntries } from '../helpers/tar-read.js';

const execFileAsync = promisify(execFile);

let tmp: { path: string; remove(): Promise<void> };
let n = 0;
/** A new directory for one write. */
async function outDir(name: string): Promise<string> {
  const path = join(tmp.path, `${n++}-${name}`);
  await mkdir(path, { recursive: true });
  return path;
}

const BIG = 5 * 1024 * 1024 + 123;
const LONG_DIR = `srv/${'d'.repeat(60)}/${'e'.repeat(60)}`;
const VERY_LONG = `srv/${'x'.repeat(120)}/${'y'.repeat(120)}/${'z'.repeat(40)}.txt`;

/** Content files under `dir`, with the given host mtime (seconds): the tar must depend on neither. */
async function contents(dir: string, hostMtime: number): Promise<Record<string, string>> {
  const files: Record<string, Buffer> = {
    hello: Buffer.from('hello, world\n'),
    empty: Buffer.alloc(0),
    big: patternBuffer(BIG),
    script: Buffer.from('#!/bin/sh\necho hi\n'),
    unicode: Buffer.from('ünïcödé\n'),
  };
  const paths: Record<string, string> = {};
  for (const [name, data] of Object.entries(files)) {
    const path = join(dir, `${name}.content`);
    await writeFile(path, data);
    await utimes(path, hostMtime, hostMtime);
    paths[name] = path;
  }
  return paths;
}

/** Entries in a deliberately unsorted order, with every field varied. */
function specs(c: Record<string, string>): TarEntrySpec[] {
  return [
    { path: 'zeta', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: c.hello },
    { path: 'app', type: 'directory', mode: 0o750, uid: 1000, gid: 1001, mtime: 1_700_000_000 },
    { path: 'app/run.sh', type: 'file', mode: 0o100755, uid: 1000, gid: 1001, mtime: 1, contentFile: c.script },
    { path: 'app/empty', type: 'file', mode: 0o600, uid: 65534, gid: 65534, mtime: 2, contentFile: c.empty },
    { path: 'app/big.bin', type: 'file', mode: 0o4755, uid: 262143, gid: 5, mtime: 3, contentFile: c.big },
    { path: 'tmp', type: 'directory', mode: 0o1777, uid: 0, gid: 0, mtime: 4 },
    { path: 'app/current', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 5, linkTarget: '../zeta' },
    { path: 'app/abs', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 6, linkTarget: `/${VERY_LONG}` },
    { path: 'app/hard', type: 'hardlink', mode: 0o755, uid: 1000, gid: 1001, mtime: 7, linkTarget: 'app/run.sh' },
    { path: LONG_DIR, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 8 },
    { path: `${LONG_DIR}/f`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 9, contentFile: c.hello },
    { path: VERY_LONG, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 10, contentFile: c.hello },
    { path: 'app/ünïcödé.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 11, contentFile: c.unicode },
  ];
}

async function write(entries: TarEntrySpec[], name: string): Promise<WrittenLayer> {
  const dir = await outDir(name);
  return writeLayer(entries, join(dir, 'layer.tar'), join(dir, 'layer.tar.gz'));
}

/** Rejects when `promise` does not settle within `ms`: a hang fails the test instead of stalling the run. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface ChildResult {
  outcome: 'rejected' | 'resolved' | 'hung';
  code?: string;
  uncaught: string[];
}

let unreadable: Promise<ChildResult> | undefined;
/**
 * Writes a layer whose second content file is a directory in a child process (an uncaught exception
 * there cannot take this test file down with it), and reports how the write ended.
 */
function unreadableContent(): Promise<ChildResult> {
  unreadable ??= (async () => {
    const directory = await outDir('not-a-file');
    const out = await outDir('eisdir');
    const script = `
      const { writeLayer } = await import(${JSON.stringify(new URL('../../src/image/layer-writer.js', import.meta.url).href)});
      const uncaught = [];
      process.on('uncaughtException', (err) => uncaught.push(String(err && err.message)));
      const entries = [
        { path: 'ok', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: ${JSON.stringify(dirA.hello)} },
        { path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: ${JSON.stringify(directory)} },
      ];
      const timer = new Promise((resolve) => setTimeout(() => resolve({ outcome: 'hung' }), 5000));
      const result = await Promise.race([
        writeLayer(entries, ${JSON.stringify(join(out, 'layer.tar'))}, ${JSON.stringify(join(out, 'layer.tar.gz'))}).then(
          () => ({ outcome: 'resolved' }),
          (err) => ({ outcome: 'rejected', code: err.code }),
        ),
        timer,
      ]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      process.stdout.write(JSON.stringify({ ...result, uncaught }));
      process.exit(0);
    `;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { timeout: 15_000 });
    return JSON.parse(stdout) as ChildResult;
  })();
  return unreadable;
}

let dirA: Record<string, string>;
let first: WrittenLayer;

before(async () => {
  tmp = await tempDir();
  dirA = await contents(await outDir('contents-a'), 1_000_000);
  first = await write(specs(dirA), 'first');
});
after(async () => {
  await tmp.remove();
});

describe('writeLayer', () => {
  test('the tar lists the entries in the given order, with exactly the given metadata and no user or group names', async () => {
    const given = specs(dirA);
    const read = await readTarEntries(first.tar.path);
    assert.deepEqual(
      read.map((e) => e.header.name),
      given.map((s) => (s.type === 'directory' ? `${s.path}/` : s.path)),
      'same order as given (not sorted), directory names end in /',
    );
    const typeOf = { file: 'file', directory: 'directory', symlink: 'symlink', hardlink: 'link', whiteout: 'file' } as const;
    for (const [i, spec] of given.entries()) {
      const h = read[i]!.header;
      assert.deepEqual(
        { type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime?.getTime(), uname: h.uname, gname: h.gname },
        { type: typeOf[spec.type], mode: spec.mode & 0o7777, uid: spec.uid, gid: spec.gid, mtime: spec.mtime * 1000, uname: '', gname: '' },
        spec.path,
      );
      if (spec.type === 'symlink' || spec.type === 'hardlink') assert.equal(h.linkname, spec.linkTarget, `${spec.path} link target`);
      else assert.ok(!h.linkname, `${spec.path} has no link target`);
      if (spec.type === 'file') {
        const expected = await readFile(spec.contentFile!);
        assert.equal(h.size, expected.length, `${spec.path} size`);
        assert.ok(read[i]!.data.equals(expected), `${spec.path} content`);
      } else {
        assert.equal(h.size, 0, `${spec.path} carries no data`);
      }
    }
    assert.equal(read.find((e) => e.header.name === 'app/run.sh')!.header.mode, 0o755, 'file type bits above 07777 are dropped');
  });

  test('headers are plain ustar with empty user and group name fields', async () => {
    const tar = await readFile(first.tar.path);
    const header = tar.subarray(0, 512);
    assert.equal(header.subarray(257, 263).toString('latin1'), 'ustar\0');
    assert.ok(header.subarray(265, 265 + 32).every((b) => b === 0), 'uname is empty');
    assert.ok(header.subarray(297, 297 + 32).every((b) => b === 0), 'gname is empty');
    assert.ok(tar.subarray(tar.length - 1024).every((b) => b === 0), 'ends with two zero blocks');
  });

  test('the same entries give identical bytes and digests, whatever the content files are called and their host mtimes', async () => {
    const dirB = await contents(await outDir('contents-b-with-another-name'), 1_600_000_000);
    assert.notEqual(dirA.hello, dirB.hello);
    assert.notEqual((await stat(dirA.hello!)).mtimeMs, (await stat(dirB.hello!)).mtimeMs);
    const second = await write(specs(dirB), 'second');
    assert.equal(second.tar.digest, first.tar.digest);
    assert.equal(second.blob.digest, first.blob.digest);
    assert.equal(second.tar.size, first.tar.size);
    assert.equal(second.blob.size, first.blob.size);
    assert.ok((await readFile(second.tar.path)).equals(await readFile(first.tar.path)));
    assert.ok((await readFile(second.blob.path)).equals(await readFile(first.blob.path)));
  });

  test('content given as byte ranges of one file (a layer inside a spooled archive) gives the same bytes', async () => {
    // every content file laid end to end in one file, with junk between, and each entry pointing at its range
    const parts: Buffer[] = [];
    let offset = 0;
    const ranged: TarEntrySpec[] = [];
    for (const spec of specs(dirA)) {
      if (!spec.contentFile) {
        ranged.push(spec);
        continue;
      }
      const data = await readFile(spec.contentFile);
      parts.push(Buffer.from('junk'), data);
      offset += 4;
      const { contentFile: _file, ...rest } = spec;
      ranged.push({ ...rest, contentRange: { file: join(tmp.path, 'packed.bin'), start: offset, size: data.length } });
      offset += data.length;
    }
    await writeFile(join(tmp.path, 'packed.bin'), Buffer.concat([...parts, Buffer.from('trailing junk')]));
    const fromRanges = await write(ranged, 'ranges');
    assert.equal(fromRanges.tar.digest, first.tar.digest);
    assert.equal(fromRanges.blob.digest, first.blob.digest);
  });

  test('digests and sizes are those of the written files; the gzip file holds the tar', async () => {
    const tar = await readFile(first.tar.path);
    const gz = await readFile(first.blob.path);
    assert.equal(first.tar.digest, sha256(tar));
    assert.equal(first.tar.size, tar.length);
    assert.equal(first.blob.digest, sha256(gz));
    assert.equal(first.blob.size, gz.length);
    assert.ok(first.blob.size < first.tar.size);
    assert.ok(gunzipSync(gz).equals(tar));
    assert.deepEqual([...gz.subarray(0, 3)], [0x1f, 0x8b, 8]);
    assert.equal(gz[3], 0, 'no file name or comment in the gzip header');
    assert.equal(gz.readUInt32LE(4), 0, 'no time in the gzip header');
    assert.match(first.tar.digest, /^sha256:[0-9a-f]{64}$/);
  });

  test('a multi-megabyte file is streamed whole and in order', async () => {
    const read = await readTarEntries(first.tar.path);
    const big = read.find((e) => e.header.name === 'app/big.bin')!;
    assert.equal(big.header.size, BIG);
    assert.equal(sha256(big.data), sha256(patternBuffer(BIG)));
    const dataBlocks = specs(dirA)
      .filter((s) => s.type === 'file')
      .reduce((sum, s) => sum + Math.ceil(read.find((e) => e.header.name === s.path)!.data.length / 512) * 512, 0);
    assert.ok(first.tar.size > dataBlocks && first.tar.size < dataBlocks + 40 * 512, `tar of ${first.tar.size} bytes for ${dataBlocks} bytes of data blocks`);
  });

  test('changing one byte of one file changes only that layer digests', async () => {
    const dir = await outDir('one-byte');
    const left = join(dir, 'left');
    const right = join(dir, 'right');
    const data = patternBuffer(100_000, 7);
    await writeFile(left, data);
    await writeFile(right, Buffer.from('right side\n'));
    const layerA = (content: string): TarEntrySpec[] => [
      { path: 'a', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
      { path: 'a/data', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: content },
    ];
    const layerB: TarEntrySpec[] = [{ path: 'b', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: right }];
    const beforeA = await write(layerA(left), 'a1');
    const beforeB = await write(layerB, 'b1');
    const changed = join(dir, 'changed');
    const copy = Buffer.from(data);
    copy[54_321] = copy[54_321]! ^ 0x01;
    await writeFile(changed, copy);
    const afterA = await write(layerA(changed), 'a2');
    const afterB = await write(layerB, 'b2');
    assert.notEqual(afterA.tar.digest, beforeA.tar.digest);
    assert.notEqual(afterA.blob.digest, beforeA.blob.digest);
    assert.equal(afterA.tar.size, beforeA.tar.size);
    assert.equal(afterB.tar.digest, beforeB.tar.digest);
    assert.equal(afterB.blob.digest, beforeB.blob.digest);
    const unchangedAgain = await write(layerA(left), 'a3');
    assert.equal(unchangedAgain.tar.digest, beforeA.tar.digest, 'the digest follows the content, not the write');
  });

  test('no entries make an empty tar (two zero blocks)', async () => {
    const empty = await write([], 'empty');
    assert.equal(empty.tar.size, 1024);
    assert.ok((await readFile(empty.tar.path)).equals(Buffer.alloc(1024)));
    assert.equal(empty.tar.digest, sha256(Buffer.alloc(1024)));
    assert.ok(gunzipSync(await readFile(empty.blob.path)).equals(Buffer.alloc(1024)));
  });

  test('a missing content file rejects, first or after a large file, and does not hang', async () => {
    const missing = join(tmp.path, 'no-such-file');
    const lone: TarEntrySpec[] = [{ path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: missing }];
    await assert.rejects(within(write(lone, 'missing-first'), 5000), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOENT');
      return true;
    });
    const afterBig: TarEntrySpec[] = [
      { path: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: dirA.big },
      { path: 'd', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
      { path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: missing },
      { path: 'y', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, contentFile: dirA.hello },
    ];
    await assert.rejects(within(write(afterBig, 'missing-later'), 5000), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOENT');
      return true;
    });
  });

  test('a content file that cannot be read (a directory) rejects and does not hang', async () => {
    const result = await unreadableContent();
    assert.equal(result.outcome, 'rejected', JSON.stringify(result));
    assert.equal(result.code, 'EISDIR');
  });

  test(
    'a content file that cannot be read raises no uncaught exception',
    async () => {
      const result = await unreadableContent();
      assert.deepEqual(result.uncaught, []);
    },
  );

  test(
    'owners above 262143 (0o777777) are written exactly',
    async () => {
      const written = await write([{ path: 'f', type: 'file', mode: 0o644, uid: 300_000, gid: 1_000_680_000, mtime: 0, contentFile: dirA.hello }], 'big-uid');
      const [entry] = await readTarEntries(written.tar.path);
      const h = entry!.header;
      assert.deepEqual([Number(h.pax?.uid ?? h.uid), Number(h.pax?.gid ?? h.gid)], [300_000, 1_000_680_000]);
    },
  );

  test(
    'modification times from 2038 on are written exactly',
    async () => {
      const mtime = 4_102_444_800; // 2100-01-01
      const written = await write([{ path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, contentFile: dirA.hello }], 'y2038');
      const [entry] = await readTarEntries(written.tar.path);
      const h = entry!.header;
      assert.equal(h.pax?.mtime !== undefined ? Math.floor(Number(h.pax.mtime)) : h.mtime!.getTime() / 1000, mtime);
    },
  );
});

describe('writeLayer with zstd', () => {
  test('the same entries give the same zstd bytes; the blob holds the tar; media type tar+zstd', async () => {
    const c = await contents(await outDir('zstd-contents'), 1_500_000_000);
    const dirs = [await outDir('zstd-a'), await outDir('zstd-b')];
    const [a, b] = await Promise.all(dirs.map((dir) => writeLayer(specs(c), join(dir, 'layer.tar'), join(dir, 'layer.tar.zst'), 'zstd')));
    const gz = await write(specs(c), 'zstd-as-gzip');
    assert.equal(a!.blob.digest, b!.blob.digest, 'deterministic');
    assert.equal(a!.tar.digest, gz.tar.digest, 'the tar (and so the diff_id) does not depend on the compression');
    assert.notEqual(a!.blob.digest, gz.blob.digest);
    assert.deepEqual([a!.compression, a!.mediaType, gz.compression, gz.mediaType], ['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd', 'gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    const blob = await readFile(a!.blob.path);
    assert.equal(blob.readUInt32LE(0), 0xfd2fb528, 'a zstd frame');
    assert.equal(a!.blob.digest, sha256(blob));
    assert.ok(Buffer.from(zstdDecompress(blob)).equals(await readFile(a!.tar.path)));
  });
});

describe('gzipSize', () => {
  test('equals the size of the gzip file writeLayer wrote for the same tar', async () => {
    assert.equal(await gzipSize(createReadStream(first.tar.path)), first.blob.size);
    const tar = await readFile(first.tar.path);
    const chunks = [tar.subarray(0, 1000), tar.subarray(1000, 3_000_000), tar.subarray(3_000_000)];
    assert.equal(await gzipSize(Readable.from(chunks)), first.blob.size, 'however the stream is chunked');
  });

  test('counts an empty stream as the bare gzip framing', async () => {
    const size = await gzipSize(Readable.from([]));
    assert.equal(size, 20);
  });
});
