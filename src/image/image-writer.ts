import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { sha256Digest } from './digest.js';
import type { WrittenLayer } from './layer-writer.js';
import type { ImageConfigFile } from './types.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface NewLayer {
  written: WrittenLayer;
  /** the history entry's created_by */
  createdBy: string;
  comment: string;
}

export interface AssembledImage {
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
  layers: NewLayer[];
}

/** Fields of the original config that describe the container that built it, not the image. */
const BUILD_ONLY_FIELDS = ['container', 'container_config', 'docker_version', 'parent', 'id'];

/**
 * The slim image's config: the original's, with its runtime settings (Entrypoint, Cmd, Env,
 * WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal, Healthcheck and anything else in
 * `config`) carried over exactly, extra labels added, and rootfs and history describing the new layers.
 * Key order is fixed so the same inputs give the same digest.
 */
export function assembleImage(original: Record<string, unknown>, layers: NewLayer[], labels: Record<string, string>): AssembledImage {
  const base = Object.fromEntries(Object.entries(original).filter(([k]) => !BUILD_ONLY_FIELDS.includes(k))) as Record<string, unknown> & ImageConfigFile;
  const runtime = { ...(base.config ?? {}) };
  runtime.Labels = { ...(runtime.Labels ?? {}), ...labels };
  const config = {
    ...base,
    config: runtime,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.written.tar.digest) },
    history: layers.map((l) => ({ ...(base.created ? { created: base.created } : {}), created_by: l.createdBy, comment: l.comment })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256Digest(configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER_GZIP, digest: l.written.gzip.digest, size: l.written.gzip.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { config: configBytes, configDigest, manifest: manifestBytes, manifestDigest: sha256Digest(manifestBytes), layers };
}

function hex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/**
 * The image as a `docker save` archive (uncompressed layers), streamed: what `docker load` accepts on
 * every engine version.
 */
export async function writeDockerArchive(image: AssembledImage, repoTags: string[], destination: NodeJS.WritableStream): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, destination);
  // awaited below; a destination that closes early (docker load cut short) must not be unhandled meanwhile
  done.catch(() => undefined);
  const add = (name: string, data: Buffer) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, data);
  const configName = `${hex(image.configDigest)}.json`;
  add(configName, image.config);
  const layerNames: string[] = [];
  for (const layer of image.layers) {
    const name = `${hex(layer.written.tar.digest)}/layer.tar`;
    layerNames.push(name);
    const sink = pack.entry({ name, mode: 0o644, size: layer.written.tar.size, mtime: new Date(0) });
    await pipeline(createReadStream(layer.written.tar.path, { highWaterMark: 1 << 20 }), sink as unknown as NodeJS.WritableStream);
  }
  add('manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: repoTags.length ? repoTags : null, Layers: layerNames }])));
  pack.finalize();
  await done;
}

export async function writeDockerArchiveFile(image: AssembledImage, repoTags: string[], path: string): Promise<void> {
  try {
    await writeDockerArchive(image, repoTags, createWriteStream(path));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
}

/** The image as an OCI image layout directory (gzip layers), named `refName` in index.json. */
export async function writeOciLayout(image: AssembledImage, dir: string, refName: string | undefined): Promise<void> {
  try {
    const blobs = join(dir, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(blobs, hex(image.configDigest)), image.config);
    await writeFile(join(blobs, hex(image.manifestDigest)), image.manifest);
    for (const layer of image.layers) await copyFile(layer.written.gzip.path, join(blobs, hex(layer.written.gzip.digest)));
    const descriptor = {
      mediaType: OCI_MANIFEST,
      digest: image.manifestDigest,
      size: image.manifest.length,
      ...(refName ? { annotations: { 'org.opencontainers.image.ref.name': refName } } : {}),
    };
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [descriptor] }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
