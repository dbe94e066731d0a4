import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { makeTempDir } from '../cleanup.js';
import { inputError, spoolFailure } from '../errors.js';
import { DirectoryArchiveFiles, TarArchiveFiles, type ArchiveFiles } from './archive-files.js';
import { readFromDaemon } from './daemon-source.js';
import { readDockerArchive } from './docker-archive.js';
import { readOciLayout } from './oci-layout.js';
import type { Image } from './types.js';

export type ImageLocation =
  | { kind: 'daemon'; reference: string }
  | { kind: 'docker-archive'; path: string; tag?: string }
  | { kind: 'oci'; path: string; ref?: string }
  | { kind: 'path'; path: string };

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** `TRANSPORT:PATH[:REF]`, where PATH and REF may both contain colons: the shortest existing PATH wins. */
/** `PATH[:REF]` by its text alone, as skopeo reads it: a ref follows the last colon with no `/` after it. */
export function splitTrailingRef(rest: string): { path: string; ref?: string } {
  const last = rest.lastIndexOf(':');
  if (last <= 0 || rest.slice(last + 1).includes('/')) return { path: rest };
  const ref = rest.slice(last + 1);
  return ref ? { path: rest.slice(0, last), ref } : { path: rest.slice(0, last) };
}

async function splitPathAndRef(rest: string): Promise<{ path: string; ref?: string }> {
  if (await exists(rest)) return { path: rest };
  for (let colon = rest.indexOf(':'); colon > 0; colon = rest.indexOf(':', colon + 1)) {
    if (await exists(rest.slice(0, colon))) return { path: rest.slice(0, colon), ref: rest.slice(colon + 1) };
  }
  return splitTrailingRef(rest);
}

/**
 * Understands the ways a user names an image: `docker-archive:PATH[:TAG]`, `oci:PATH[:REF]`,
 * `docker-daemon:REF`, an existing file or directory (its kind is detected), or else a reference in
 * the Docker engine.
 */
export async function parseImageLocation(argument: string): Promise<ImageLocation> {
  if (argument.startsWith('docker-archive:')) {
    const { path, ref } = await splitPathAndRef(argument.slice('docker-archive:'.length));
    return { kind: 'docker-archive', path, tag: ref };
  }
  if (argument.startsWith('oci-archive:') || argument.startsWith('oci:')) {
    const { path, ref } = await splitPathAndRef(argument.slice(argument.indexOf(':') + 1));
    return { kind: 'oci', path, ref };
  }
  if (argument.startsWith('docker-daemon:')) return { kind: 'daemon', reference: argument.slice('docker-daemon:'.length) };
  if (argument.startsWith('/') || argument.startsWith('./') || argument.startsWith('../') || (await exists(argument))) {
    return { kind: 'path', path: argument };
  }
  return { kind: 'daemon', reference: argument };
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Opens archive files at a path: a directory, a tar, or a gzip-compressed tar (decompressed to a temp file). */
async function openArchiveFiles(path: string): Promise<{ files: ArchiveFiles; close: () => Promise<void> }> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw inputError(`${path} does not exist`);
  }
  if (info.isDirectory()) return { files: new DirectoryArchiveFiles(path), close: async () => undefined };
  const head = await readHead(path, 2);
  if (head.length === 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const temp = await makeTempDir('gunzip');
    try {
      const plain = join(temp.path, 'image.tar');
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(plain));
      return { files: await TarArchiveFiles.open(plain), close: temp.remove };
    } catch (err) {
      await temp.remove();
      if ((err as { code?: string }).code?.startsWith('Z_')) throw inputError(`${path} is a corrupt gzip file: ${(err as Error).message}`);
      throw spoolFailure(err, `the decompressed ${path} to ${temp.path}`);
    }
  }
  return { files: await TarArchiveFiles.open(path), close: async () => undefined };
}

/** Opens an image wherever it lives. The caller must `close()` it. */
export async function openImage(argument: string): Promise<Image> {
  const location = await parseImageLocation(argument);
  if (location.kind === 'daemon') return readFromDaemon(location.reference);
  const { files, close } = await openArchiveFiles(location.path);
  try {
    if (location.kind === 'docker-archive') return await readDockerArchive(files, { reference: argument, tag: location.tag, close });
    if (location.kind === 'oci') return await readOciLayout(files, { reference: argument, ref: location.ref, close });
    if (await files.has('oci-layout')) return await readOciLayout(files, { reference: argument, close });
    if (await files.has('manifest.json')) return await readDockerArchive(files, { reference: argument, close });
    throw inputError(
      `${location.path} is not an image: it is neither a docker-archive (manifest.json) nor an OCI layout (oci-layout, index.json)`,
      'make one with `docker save IMAGE -o FILE` or `skopeo copy ... oci:DIR`',
    );
  } catch (err) {
    await close();
    throw err;
  }
}
