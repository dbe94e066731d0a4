import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Image } from '../types.js';
import { uncompressedTar } from './uncompressed.js';

function hex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/**
 * The image as a `docker save` archive (uncompressed layers), streamed: what `docker load` accepts on
 * every engine version.
 */
export async function writeDockerArchive(image: Image, repoTags: string[], destination: NodeJS.WritableStream): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, destination);
  // awaited below; a destination that closes early (docker load cut short) must not be unhandled meanwhile
  done.catch(() => undefined);
  const add = (name: string, data: Buffer) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, data);
  const configName = `${hex(image.id)}.json`;
  add(configName, image.rawConfig);
  const layerNames: string[] = [];
  try {
    for (const layer of image.layers) {
      const name = `${hex(layer.diffId)}/layer.tar`;
      layerNames.push(name);
      const plain = await uncompressedTar(layer);
      try {
        const sink = pack.entry({ name, mode: 0o644, size: plain.size, mtime: new Date(0) });
        await pipeline(plain.open(), sink as unknown as NodeJS.WritableStream);
      } finally {
        await plain.release();
      }
    }
    add('manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: repoTags.length ? repoTags : null, Layers: layerNames }])));
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await done;
}

export async function writeDockerArchiveFile(image: Image, repoTags: string[], path: string): Promise<void> {
  try {
    await writeDockerArchive(image, repoTags, createWriteStream(path));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
}
