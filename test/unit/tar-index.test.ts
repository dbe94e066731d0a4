import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SlimError } from '../../src/errors.js';
import { readTarNumber, TarFileIndex } from '../../src/image/tar-index.js';
import { tempDir } from '../helpers/images.js';
import { buildTar, padBlock, rawTarHeader } from '../helpers/layers.js';

let tmp: { path: string; remove(): Promise<void> };
let counter = 0;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await tmp.remove();
});

async function writeTemp(data: Buffer): Promise<string> {
  const path = join(tmp.path, `t${counter++}.tar`);
  await writeFile(path, data);
  return path;
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('TarFileIndex', () => {
  test('records each member with its kind, size and data offset', async () => {
    const big = Buffer.alloc(600, 0x62);
    const data = await buildTar([
      { path: 'a.txt', content: 'hello' },
      { path: 'dir/', type: 'dir' },
      { path: 'dir/b.bin', content: big },
      { path: 'dir/link', type: 'symlink', linkTarget: 'b.bin' },
      { path: 'empty', content: '' },
    ]);
    const index = await TarFileIndex.open(await writeTemp(data));
    assert.deepEqual(index.names(), ['a.txt', 'dir', 'dir/b.bin', 'dir/link', 'empty']);

    const a = index.get('a.txt')!;
    assert.equal(a.kind, 'file');
    assert.equal(a.size, 5);
    assert.equal(a.dataOffset, 512);
    assert.equal(data.toString('utf8', a.dataOffset, a.dataOffset + a.size), 'hello');

    // a.txt: header 0, data 512..1024; dir: header 1024; b.bin: header 1536, data 2048
    const b = index.get('dir/b.bin')!;
    assert.equal(b.size, 600);
    assert.equal(b.dataOffset, 2048);
    assert.deepEqual(await index.readMember(b), big);
    assert.deepEqual(await collect(index.openMember(b)), big);

    assert.equal(index.get('dir')!.kind, 'directory');
    assert.equal(index.get('dir/')!.kind, 'directory', 'a trailing slash is normalised away');
    const empty = index.get('./empty')!;
    assert.equal(empty.size, 0);
    assert.deepEqual(await collect(index.openMember(empty)), Buffer.alloc(0));
    assert.equal(index.get('missing'), undefined);
  });

  test('joins the ustar prefix field for names longer than 100 bytes that have slashes', async () => {
    const name = `${'d'.repeat(60)}/${'e'.repeat(60)}/file.txt`;
    const data = await buildTar([{ path: name, content: 'prefixed' }]);
    assert.notEqual(data[345], 0, 'tar-stream stores the leading directories in the prefix field');
    assert.equal(String.fromCharCode(data[156]!), '0', 'no pax header was needed');
    const index = await TarFileIndex.open(await writeTemp(data));
    const member = index.get(name)!;
    assert.equal(member.name, name);
    assert.equal((await index.readMember(member)).toString(), 'prefixed');
  });

  test('reads pax path and linkpath records (long names tar-stream cannot split)', async () => {
    const longName = `${'x'.repeat(150)}.bin`;
    const longTarget = `${'y'.repeat(120)}/target`;
    const data = await buildTar([
      { path: `${'y'.repeat(120)}/target`, content: 'T' },
      { path: longName, content: 'pax content' },
      { path: 'short-link', type: 'symlink', linkTarget: longTarget },
    ]);
    const index = await TarFileIndex.open(await writeTemp(data));
    const member = index.get(longName)!;
    assert.ok(member, 'the member is found under its full pax name');
    assert.equal(member.name, longName);
    assert.equal(member.size, 'pax content'.length);
    assert.equal((await index.readMember(member)).toString(), 'pax content');
    assert.equal(index.names().filter((n) => n.includes('PaxHeader')).length, 0, 'pax headers are not members');
    const link = index.get('short-link');
    assert.equal(link?.kind, 'file', 'the symlink with a pax linkpath resolves to its target');
    assert.equal((await index.readMember(link!)).toString(), 'T');
  });

  test('reads GNU long names (typeflag L) and long link names (typeflag K)', async () => {
    const longName = `gnu/${'g'.repeat(140)}.txt`;
    const longTarget = `gnu/${'g'.repeat(140)}.txt`;
    const nameData = Buffer.from(`${longName}\0`);
    const linkData = Buffer.from(`${longTarget}\0`);
    const data = Buffer.concat([
      rawTarHeader({ name: '././@LongLink', typeflag: 'L', size: nameData.length, format: 'gnu' }),
      padBlock(nameData),
      rawTarHeader({ name: longName.slice(0, 100), size: 3, format: 'gnu' }),
      padBlock(Buffer.from('gnu')),
      rawTarHeader({ name: '././@LongLink', typeflag: 'K', size: linkData.length, format: 'gnu' }),
      padBlock(linkData),
      rawTarHeader({ name: 'hard', typeflag: '1', linkname: longTarget.slice(0, 100), format: 'gnu' }),
      Buffer.alloc(1024),
    ]);
    const index = await TarFileIndex.open(await writeTemp(data));
    assert.deepEqual(index.names(), [longName, 'hard']);
    const member = index.get(longName)!;
    assert.equal(member.dataOffset, 512 * 3);
    assert.equal((await index.readMember(member)).toString(), 'gnu');
    const hard = index.get('hard')!;
    assert.equal(hard.name, longName, 'the hard link resolves through its GNU long link name');
  });

  test(
    'ignores the prefix field of GNU-format headers (it holds atime/ctime there)',
    async () => {
      const data = Buffer.concat([
        rawTarHeader({ name: 'etc/hosts', size: 2, format: 'gnu', at345: '14553315225' }),
        padBlock(Buffer.from('ok')),
        Buffer.alloc(1024),
      ]);
      const index = await TarFileIndex.open(await writeTemp(data));
      assert.deepEqual(index.names(), ['etc/hosts']);
    },
  );

  test('get() follows symlinked and hard-linked members to the file (docker save links duplicate layers)', async () => {
    const layer = Buffer.alloc(1000, 0x7a);
    const data = await buildTar([
      { path: 'aaa/', type: 'dir' },
      { path: 'aaa/layer.tar', content: layer },
      { path: 'bbb/', type: 'dir' },
      { path: 'bbb/layer.tar', type: 'symlink', linkTarget: '../aaa/layer.tar' },
      { path: 'ccc/layer.tar', type: 'symlink', linkTarget: '/bbb/layer.tar' },
      { path: 'hard.tar', type: 'hardlink', linkTarget: './aaa/layer.tar' },
      { path: 'loop1', type: 'symlink', linkTarget: 'loop2' },
      { path: 'loop2', type: 'symlink', linkTarget: 'loop1' },
    ]);
    const index = await TarFileIndex.open(await writeTemp(data));
    const original = index.get('aaa/layer.tar')!;
    for (const name of ['bbb/layer.tar', 'ccc/layer.tar', 'hard.tar']) {
      const member = index.get(name)!;
      assert.equal(member.kind, 'file', name);
      assert.equal(member.name, 'aaa/layer.tar', name);
      assert.equal(member.dataOffset, original.dataOffset, name);
      assert.deepEqual(await index.readMember(member), layer, name);
    }
    assert.notEqual(index.get('loop1')?.kind, 'file', 'a symlink loop never resolves to a file');
  });

  test('a file that is not a tar is an input error (exit code 3) saying so', async () => {
    const path = await writeTemp(Buffer.from('{"this": "is json, not a tar"}\n'.repeat(40)));
    await assert.rejects(TarFileIndex.open(path), (err: unknown) => {
      assert.ok(err instanceof SlimError);
      assert.equal(err.exitCode, 3);
      assert.match(err.message, /not a tar archive/);
      assert.ok(err.message.includes(path), 'the message names the file');
      return true;
    });
  });

  test('an empty file is not a tar archive', async () => {
    const path = await writeTemp(Buffer.alloc(0));
    await assert.rejects(TarFileIndex.open(path), (err: unknown) => err instanceof SlimError && err.exitCode === 3 && /not a tar archive/.test(err.message));
  });

  test('a missing file is an input error naming it', async () => {
    const path = join(tmp.path, 'does-not-exist.tar');
    await assert.rejects(TarFileIndex.open(path), (err: unknown) => err instanceof SlimError && err.exitCode === 3 && /cannot open .*ENOENT/.test(err.message));
  });

  test('a garbage block after valid members is reported as corrupt with its offset', async () => {
    const good = await buildTar([{ path: 'a', content: 'A' }]);
    const data = Buffer.concat([good.subarray(0, 1024), Buffer.alloc(512, 0x41), Buffer.alloc(1024)]);
    await assert.rejects(TarFileIndex.open(await writeTemp(data)), /corrupt: bad tar header at byte 1024/);
  });

  test('a tar cut inside a member\'s data is reported as truncated', async () => {
    const data = await buildTar([
      { path: 'a.txt', content: 'hello' },
      { path: 'big.bin', content: Buffer.alloc(5000, 1) },
    ]);
    const cut = data.subarray(0, 1024 + 512 + 2000);
    await assert.rejects(TarFileIndex.open(await writeTemp(cut)), (err: unknown) => {
      assert.ok(err instanceof SlimError);
      assert.equal(err.exitCode, 3);
      assert.match(err.message, /truncated/);
      assert.match(err.message, /big\.bin/);
      return true;
    });
  });

  test(
    'a tar cut inside a header block is reported as truncated',
    async () => {
      const data = await buildTar([
        { path: 'a.txt', content: 'hello' },
        { path: 'b.txt', content: 'world' },
      ]);
      // a.txt: header + data = 1024 bytes; cut 100 bytes into b.txt's header
      await assert.rejects(TarFileIndex.open(await writeTemp(data.subarray(0, 1124))), /truncated/);
    },
  );
});

describe('readTarNumber', () => {
  test('reads octal text and base-256 numbers', () => {
    const block = Buffer.alloc(24);
    block.write('00000001750\0', 0, 'latin1');
    assert.equal(readTarNumber(block, 0, 12), 0o1750);
    // base-256: top bit set, big-endian value 8 GiB
    block[12] = 0x80;
    block.writeUIntBE(8 * 1024 ** 3, 12 + 6, 6);
    assert.equal(readTarNumber(block, 12, 12), 8 * 1024 ** 3);
    assert.throws(() => readTarNumber(Buffer.from('zz\0'), 0, 3), /bad numeric field/);
  });
});
