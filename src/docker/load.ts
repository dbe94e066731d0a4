import { PassThrough } from 'node:stream';
import { onCleanup } from '../cleanup.js';
import { SlimError } from '../errors.js';
import type { AssembledImage } from '../image/image-writer.js';
import { writeDockerArchive } from '../image/sinks/docker-archive.js';
import { requireEngine } from './engine.js';

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

/**
 * Loads the image into the Docker engine (streaming a docker-archive, which every engine version
 * accepts), tagged with `repoTags` or untagged. Returns the image ID.
 */
export async function loadIntoEngine(image: AssembledImage, repoTags: string[]): Promise<string> {
  const engine = await requireEngine();
  const archive = new PassThrough({ highWaterMark: 1 << 20 });
  let loading: Promise<unknown> = Promise.resolve();
  let finished = false;
  // Ctrl-C mid-load: cut the upload short, let the engine settle, and remove what it may have loaded
  const abandon = onCleanup(async () => {
    if (finished) return;
    archive.destroy();
    await Promise.race([loading.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
    await removeIfUntagged(image.configDigest);
  });
  const writing = writeDockerArchive(image, repoTags, archive);
  // awaited below, once the engine answers; a cut-short upload rejects it before that
  writing.catch(() => undefined);
  let response: NodeJS.ReadableStream;
  try {
    const request = engine.loadImage(archive, { quiet: true }) as Promise<NodeJS.ReadableStream>;
    loading = request;
    response = await request;
  } catch (err) {
    archive.destroy();
    await writing.catch(() => undefined);
    throw new SlimError(`docker load failed: ${(err as Error).message}`);
  }
  const reading = Promise.all([readAll(response), writing]);
  loading = reading;
  const [text] = await reading;
  finished = true;
  await abandon();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const message = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
    if (message.error) throw new SlimError(`docker load failed: ${message.errorDetail?.message ?? message.error}`);
  }
  const inspect = await engine.getImage(image.configDigest).inspect();
  return inspect.Id;
}

/** Removes an image by ID if no tag points at it any more (so nothing a user named is deleted). */
export async function removeIfUntagged(id: string): Promise<boolean> {
  const engine = await requireEngine();
  try {
    const info = await engine.getImage(id).inspect();
    if ((info.RepoTags ?? []).length > 0) return false;
    await engine.getImage(id).remove({ noprune: false });
    return true;
  } catch {
    return false;
  }
}

export async function tagImage(id: string, reference: string): Promise<void> {
  const engine = await requireEngine();
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  const [repo, tag] = colon > slash ? [reference.slice(0, colon), reference.slice(colon + 1)] : [reference, 'latest'];
  await engine.getImage(id).tag({ repo, tag });
}
