import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { makeTempDir } from '../cleanup.js';
import { engineName, engineUnreachableError, isEngineUnreachable, requireEngine } from '../docker/engine.js';
import { inputError, SlimError, spoolFailure } from '../errors.js';
import { TarArchiveFiles } from './archive-files.js';
import { readDockerArchive } from './docker-archive.js';
import type { Image } from './types.js';

/**
 * Reads an image from the Docker engine. `docker save` output is streamed to a temporary archive
 * (constant memory; disk equal to the image) because later steps need random access to its layers;
 * the temporary file is removed by `image.close()` or on exit.
 */
export async function readFromDaemon(reference: string): Promise<Image> {
  const engine = await requireEngine();
  let inspect: { Id: string; RepoTags?: string[] | null };
  try {
    inspect = await engine.getImage(reference).inspect();
  } catch (err) {
    if (isEngineUnreachable(err)) throw engineUnreachableError(err);
    if ((err as { statusCode?: number }).statusCode === 404) {
      throw inputError(`image ${reference} not found in ${engineName(engine)}`, `check \`${engineName(engine) === 'Podman' ? 'podman' : 'docker'} images\`, or pass a docker-archive:PATH or oci:PATH`);
    }
    throw new SlimError(`cannot inspect image ${reference}: ${(err as Error).message}`);
  }
  const temp = await makeTempDir('save');
  try {
    const archivePath = join(temp.path, 'image.tar');
    let saved: Readable;
    try {
      saved = (await engine.getImage(inspect.Id).get()) as Readable;
    } catch (err) {
      if (isEngineUnreachable(err)) throw engineUnreachableError(err);
      throw new SlimError(`docker save ${reference} failed: ${(err as Error).message}`);
    }
    // large writes: with the default 16 KiB the spool ran at two thirds of `docker save -o`'s speed
    await pipeline(saved, createWriteStream(archivePath, { highWaterMark: 1 << 20 })).catch((err: unknown) => {
      throw spoolFailure(err, `the image (docker save ${reference}) to ${temp.path}`);
    });
    const files = await TarArchiveFiles.open(archivePath);
    const image = await readDockerArchive(files, {
      reference,
      configDigest: inspect.Id,
      source: 'daemon',
      close: temp.remove,
    });
    return { ...image, repoTags: inspect.RepoTags ?? [] };
  } catch (err) {
    await temp.remove();
    throw err;
  }
}
