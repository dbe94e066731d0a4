/**
 * Crafted images for the bad-input suite: tars with entries tar-stream will not write (device nodes,
 * raw non-UTF-8 names, GNU and PAX sparse files), broken archives, and images derived from an engine
 * image by appending a layer and loading the result back with `docker load`.
 */
import { execFile } from 'node:child_process';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dockerArchive, OciLayoutBuilder, writeArchiveDir, writeArchiveTar, type ImageSpec } from './images.js';
import { FIXED_MTIME, sha256 } from './layers.js';

const run = promisify(execFile);

/** One entry of a hand-written tar. Names and link names may be raw bytes (not valid UTF-8). */
export interface RawEntry {
  name: string | Buffer;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  content?: string | Buffer;
  linkname?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
  /** pax records written in an `x` header before the entry (values may be raw bytes) */
  pax?: Record<string, string | Buffer>;
}

const TYPEFLAGS = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}

function header(fields: { name: Buffer; typeflag: string; size: number; mode: number; uid: number; gid: number; linkname?: Buffer; devmajor?: number; devminor?: number }): Buffer {
  if (fields.name.length > 100) throw new Error(`rawTar: name of ${fields.name.length} bytes needs a pax path`);
  const block = Buffer.alloc(512);
  fields.name.copy(block, 0);
  octal(block, 100, 8, fields.mode);
  octal(block, 108, 8, fields.uid);
  octal(block, 116, 8, fields.gid);
  octal(block, 124, 12, fields.size);
  octal(block, 136, 12, Math.floor(FIXED_MTIME.getTime() / 1000));
  block.write(fields.typeflag, 156, 'latin1');
  fields.linkname?.copy(block, 157, 0, 100);
  block.write('ustar\x0000', 257, 'latin1');
  octal(block, 329, 8, fields.devmajor ?? 0);
  octal(block, 337, 8, fields.devminor ?? 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function pad(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

function paxData(records: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
    // the length prefix counts itself
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    parts.push(Buffer.concat([Buffer.from(String(length)), body]));
  }
  return Buffer.concat(parts);
}

/** A tar written byte by byte (ustar headers, optional pax records), ended by two zero blocks. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const name = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name);
    if (e.pax) {
      const data = paxData(e.pax);
      blocks.push(header({ name: Buffer.from('PaxHeaders/entry'), typeflag: 'x', size: data.length, mode: 0o644, uid: 0, gid: 0 }), pad(data));
    }
    const type = e.type ?? 'file';
    const content = type === 'file' ? (Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content ?? '')) : Buffer.alloc(0);
    blocks.push(
      header({
        name: name.length > 100 ? name.subarray(0, 100) : name,
        typeflag: TYPEFLAGS[type],
        size: content.length,
        mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        linkname: e.linkname === undefined ? undefined : Buffer.isBuffer(e.linkname) ? e.linkname : Buffer.from(e.linkname),
        devmajor: e.devmajor,
        devminor: e.devminor,
      }),
      pad(content),
    );
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A GNU long-name record (typeflag L) naming the entry that follows it; no end-of-archive blocks. */
export function gnuLongName(name: Buffer): Buffer {
  const data = Buffer.concat([name, Buffer.alloc(1)]);
  return Buffer.concat([header({ name: Buffer.from('././@LongLink'), typeflag: 'L', size: data.length, mode: 0o644, uid: 0, gid: 0 }), pad(data)]);
}

/** The apparent size of the sparse file `sparseLayer` writes, and where its data lies. */
export const SPARSE_SIZE = 4 * 1024 ** 3;
export const SPARSE_DATA = [0, 700_000_000, 1_400_000_000, 2_100_000_000, 2_800_000_000, 3_500_000_000].map((offset, i) => ({ offset, text: `DATA${i}` }));

/**
 * A layer holding `big.img`, a 4 GiB file with six short runs of data, then `after.txt` (5 bytes),
 * written by GNU tar with `--sparse`: `gnu` is the old GNU format (typeflag S, with an extension block
 * for the map), `pax` the PAX format 1.0 (the map at the start of the data). The tar is a few
 * kilobytes; the file is never allocated on disk.
 */
export async function sparseLayer(workDir: string, format: 'gnu' | 'pax'): Promise<Buffer> {
  const dir = join(workDir, `sparse-${format}`);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'big.img');
  await run('truncate', ['-s', String(SPARSE_SIZE), file]);
  const handle = await open(file, 'r+');
  try {
    for (const { offset, text } of SPARSE_DATA) await handle.write(Buffer.from(text), 0, text.length, offset);
  } finally {
    await handle.close();
  }
  await writeFile(join(dir, 'after.txt'), 'after');
  const tarPath = join(workDir, `sparse-${format}.tar`);
  const args = ['--sparse', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-C', dir, '-cf', tarPath, 'big.img', 'after.txt'];
  if (format === 'pax') args.unshift('--format=pax', '--pax-option=delete=atime,delete=ctime');
  await run('tar', args);
  await rm(dir, { recursive: true, force: true });
  const data = await readFile(tarPath);
  await rm(tarPath, { force: true });
  return data;
}

/** Writes a one-image `docker save` archive. */
export async function writeDockerArchive(path: string, spec: ImageSpec): Promise<string> {
  return writeArchiveTar(path, dockerArchive([spec]));
}

export type Crafted = (dir: string) => Promise<string>;

/** A tar with files in it, none of them an image's. */
export const notAnImage: Crafted = async (dir) => writeArchiveTar(join(dir, 'not-an-image.tar'), new Map([['README.md', Buffer.from('# hello\n')]]));

/** A file that is not a tar at all. */
export const notATar: Crafted = async (dir) => {
  const path = join(dir, 'random.bin');
  await writeFile(path, Buffer.from('this is not a tar archive, just some text that is long enough to fill a header block '.repeat(10)));
  return path;
};

const SMALL_LAYER = rawTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/hostname', content: 'crafted\n' }, { name: 'bin/app', content: '#!/bin/sh\necho hi\n', mode: 0o755 }]);

/** An OCI layout whose only layer blob ends half-way through (gzip cut short); its digests are those of the full blob. */
export const truncatedLayer: Crafted = async (dir) => {
  const builder = new OciLayoutBuilder();
  const manifest = builder.manifest({ layers: [SMALL_LAYER] }, { compression: 'gzip' });
  const files = builder.finish([manifest]);
  for (const [path, data] of files) {
    if (Buffer.isBuffer(data) && data[0] === 0x1f && data[1] === 0x8b) files.set(path, data.subarray(0, Math.floor(data.length / 2)));
  }
  return writeArchiveDir(join(dir, 'truncated-layer'), files);
};

/** A docker-archive whose second layer's content is not what the config's diff_id says. */
export const digestMismatch: Crafted = async (dir) => {
  const other = rawTar([{ name: 'srv/data.txt', content: 'the original data\n' }]);
  const tampered = rawTar([{ name: 'srv/data.txt', content: 'the tampered data\n' }]);
  const spec: ImageSpec = { layers: [SMALL_LAYER, tampered], diffIds: [sha256(SMALL_LAYER), sha256(other)] };
  return writeDockerArchive(join(dir, 'digest-mismatch.tar'), spec);
};

export const UNKNOWN_MEDIA_TYPE = 'application/vnd.example.layer.v1.squashfs';

/** An OCI layout whose layer has a media type slim (and containerd) do not know. */
export const unknownMediaType: Crafted = async (dir) => {
  const builder = new OciLayoutBuilder();
  const manifest = builder.manifest({ layers: [SMALL_LAYER] }, { compression: 'none', layerMediaType: UNKNOWN_MEDIA_TYPE });
  return writeArchiveDir(join(dir, 'unknown-media-type'), builder.finish([manifest]));
};

/** An OCI layout whose index lists only a linux/arm64 manifest. */
export const arm64OnlyIndex: Crafted = async (dir) => {
  const builder = new OciLayoutBuilder();
  const manifest = builder.manifest({ layers: [SMALL_LAYER], architecture: 'arm64' });
  manifest.platform = { os: 'linux', architecture: 'arm64' };
  const index = builder.index([manifest]);
  return writeArchiveDir(join(dir, 'arm64-only'), builder.finish([index]));
};

/** A docker-archive of a tiny image whose config says linux/arm64 (for `docker load`). */
export const arm64Archive = (tag: string): Crafted => async (dir) =>
  writeDockerArchive(join(dir, 'arm64-image.tar'), { layers: [SMALL_LAYER], architecture: 'arm64', repoTags: [tag], config: { Cmd: ['/bin/app'] } });

/** A docker-archive of a one-layer image with the given entries. */
export async function layerArchive(dir: string, name: string, layer: Buffer, config: ImageSpec['config'] = { Cmd: ['/bin/app'] }): Promise<string> {
  return writeDockerArchive(join(dir, `${name}.tar`), { layers: [SMALL_LAYER, layer], config });
}

/** Names of the hostile-but-legal entries `hostileLayer` writes, for assertions. */
export const HOSTILE = {
  newlineName: 'hostile/new\nline.txt',
  /** sets the terminal's title and clears the screen when printed raw */
  terminalEscapeName: 'hostile/\x1b]0;owned\x07\x1b[2Jescape.txt',
  invalidUtf8Name: Buffer.concat([Buffer.from('hostile-names/bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]),
  /** how slim shows the invalid UTF-8 name: each byte that is not UTF-8 as \xNN */
  invalidUtf8Shown: 'hostile-names/bad-\\xff\\xfe.txt',
  paxInvalidUtf8Name: Buffer.concat([Buffer.from('hostile-names/pax-'), Buffer.from([0xc3, 0x28]), Buffer.from('.txt')]),
};

/**
 * A layer that is legal but hostile: device nodes, a FIFO, a setuid and a setgid file, a symlink
 * loop, symlinks escaping the root (relative and absolute), an absolute entry name, a name with a
 * newline, and names that are not UTF-8 (raw in the header and in a pax path).
 */
export function hostileLayer(): Buffer {
  return rawTar([
    { name: 'hostile/', type: 'dir' },
    { name: 'hostile/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'hostile/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 },
    { name: 'hostile/fifo', type: 'fifo', mode: 0o644 },
    { name: 'hostile/setuid-tool', content: '#!/bin/sh\nid\n', mode: 0o4755 },
    { name: 'hostile/setgid-tool', content: '#!/bin/sh\nid\n', mode: 0o2755, gid: 50 },
    { name: 'hostile/loop-a', type: 'symlink', linkname: 'loop-b' },
    { name: 'hostile/loop-b', type: 'symlink', linkname: 'loop-a' },
    { name: 'hostile/self', type: 'symlink', linkname: 'self' },
    { name: 'hostile/escape', type: 'symlink', linkname: '../../../../../../etc/hostname' },
    { name: 'hostile/absolute', type: 'symlink', linkname: '/etc/hostname' },
    { name: 'hostile/escape-dir', type: 'symlink', linkname: '../../../..' },
    { name: '/hostile/absolute-entry.txt', content: 'absolute name\n' },
    { name: HOSTILE.newlineName, content: 'newline\n' },
    { name: 'hostile-names/', type: 'dir' },
    { name: HOSTILE.invalidUtf8Name, content: 'invalid utf-8 name\n' },
    { name: 'hostile-names/pax-placeholder', content: 'pax name\n', pax: { path: HOSTILE.paxInvalidUtf8Name } },
  ]);
}

/** A layer with one entry that climbs out of the root, between ordinary ones. */
export function dotDotLayer(name = '../../escape.txt'): Buffer {
  return rawTar([{ name: 'srv/', type: 'dir' }, { name: 'srv/ok.txt', content: 'ok\n' }, { name, content: 'escaped\n' }]);
}

interface EngineInspect {
  Architecture: string;
  Os: string;
  Config: Record<string, unknown>;
  RootFS: { Layers: string[] };
}

/**
 * Loads `base` + `layer` into the engine as `tag` without a full `docker save`: the archive holds the
 * new config and only the new layer, since the engine already has every layer of `base` (docker load
 * reuses layers it has by chain ID). Returns the new image ID.
 */
export async function loadDerivedImage(dir: string, base: string, layer: Buffer, tag: string): Promise<string> {
  const { stdout } = await run('docker', ['image', 'inspect', base]);
  const inspect = (JSON.parse(stdout) as EngineInspect[])[0]!;
  const diffIds = [...inspect.RootFS.Layers, sha256(layer)];
  const raw = Buffer.from(
    JSON.stringify({
      architecture: inspect.Architecture,
      os: inspect.Os,
      created: '2024-01-01T00:00:00Z',
      config: inspect.Config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map((_, i) => ({ created_by: i === diffIds.length - 1 ? 'crafted hostile layer' : `layer ${i} of ${base}` })),
    }),
  );
  const configHex = sha256(raw).slice('sha256:'.length);
  const layerPaths = diffIds.map((d) => `${d.slice('sha256:'.length)}/layer.tar`);
  const files = new Map<string, Buffer>([
    ['manifest.json', Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [tag], Layers: layerPaths }]))],
    [`${configHex}.json`, raw],
    [layerPaths[layerPaths.length - 1]!, layer],
  ]);
  const archive = await writeArchiveTar(join(dir, `${tag.replace(/[/:]/g, '_')}.tar`), files);
  await run('docker', ['load', '-i', archive]);
  return `sha256:${configHex}`;
}

/** `docker load`s a docker-archive file. */
export async function loadArchive(path: string): Promise<void> {
  await run('docker', ['load', '-i', path]);
}
