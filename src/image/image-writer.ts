import { createReadStream } from 'node:fs';
import { sha256Digest } from './digest.js';
import type { WrittenLayer } from './layer-writer.js';
import type { Image, ImageConfigFile, Layer } from './types.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface NewLayer {
  written: WrittenLayer;
  /** the history entry's created_by */
  createdBy: string;
  comment: string;
}

/** A layer slim wrote: its blob and its uncompressed tar are files at hand. */
export interface SlimLayer extends Layer {
  readonly written: WrittenLayer;
  readonly comment: string;
}

/** The slim image: an `Image` like any a source opens, so every sink takes it unchanged. */
export interface AssembledImage extends Image {
  readonly layers: SlimLayer[];
  readonly configDigest: string;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
}

/** Fields of the original config that describe the container that built it, not the image. */
const BUILD_ONLY_FIELDS = ['container', 'container_config', 'docker_version', 'parent', 'id'];

/**
 * The slim image's config: the original's, with its runtime settings (Entrypoint, Cmd, Env,
 * WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal, Healthcheck and anything else in
 * `config`) carried over exactly, extra labels added, and rootfs and history describing the new layers.
 * Key order is fixed so the same inputs give the same digest. A pure function of its inputs.
 */
export function slimConfig(original: Record<string, unknown>, layers: NewLayer[], labels: Record<string, string>): Buffer {
  const base = Object.fromEntries(Object.entries(original).filter(([k]) => !BUILD_ONLY_FIELDS.includes(k))) as Record<string, unknown> & ImageConfigFile;
  const runtime = { ...(base.config ?? {}) };
  runtime.Labels = { ...(runtime.Labels ?? {}), ...labels };
  const config = {
    ...base,
    config: runtime,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.written.tar.digest) },
    history: layers.map((l) => ({ ...(base.created ? { created: base.created } : {}), created_by: l.createdBy, comment: l.comment })),
  };
  return Buffer.from(JSON.stringify(config));
}

const OCI_LAYER_TYPES: Record<string, string> = {
  gzip: OCI_LAYER_GZIP,
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

/** The OCI media type of a layer as a registry or an OCI layout stores it. */
export function ociLayerMediaType(layer: Pick<Layer, 'mediaType'>): string {
  if (layer.mediaType.startsWith('application/vnd.oci.image.layer.')) return layer.mediaType;
  if (layer.mediaType.endsWith('gzip')) return OCI_LAYER_TYPES.gzip!;
  if (layer.mediaType.endsWith('zstd')) return OCI_LAYER_TYPES.zstd!;
  return OCI_LAYER_TYPES.none!;
}

/** An OCI manifest for any image: its config and its layers as they are stored (an uncompressed layer by its diff_id). */
export function manifestOf(image: Pick<Image, 'rawConfig' | 'layers'>): { bytes: Buffer; digest: string } {
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256Digest(image.rawConfig), size: image.rawConfig.length },
    layers: image.layers.map((l) => ({
      mediaType: ociLayerMediaType(l),
      digest: l.digest ?? l.diffId,
      size: l.storedSize,
      ...(l.annotations && Object.keys(l.annotations).length ? { annotations: l.annotations } : {}),
    })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { bytes, digest: sha256Digest(bytes) };
}

/**
 * The slim image from the original's config and the layers slim wrote: config by `slimConfig`, layers
 * that open the written blobs, and its manifest.
 */
export function assembleImage(original: Record<string, unknown>, layers: NewLayer[], labels: Record<string, string>): AssembledImage {
  const rawConfig = slimConfig(original, layers, labels);
  const configDigest = sha256Digest(rawConfig);
  const slimLayers: SlimLayer[] = layers.map((l, index) => ({
    index,
    diffId: l.written.tar.digest,
    digest: l.written.blob.digest,
    mediaType: l.written.mediaType,
    annotations: l.written.annotations,
    storedSize: l.written.blob.size,
    uncompressedSize: l.written.tar.size,
    createdBy: l.createdBy,
    written: l.written,
    comment: l.comment,
    openBlob: () => createReadStream(l.written.blob.path, { highWaterMark: 1 << 20 }),
    openUncompressed: () => createReadStream(l.written.tar.path, { highWaterMark: 1 << 20 }),
  }));
  const image = {
    reference: configDigest,
    source: 'slim' as const,
    id: configDigest,
    repoTags: [],
    config: JSON.parse(rawConfig.toString()) as ImageConfigFile,
    rawConfig,
    layers: slimLayers,
    close: async () => undefined,
  };
  const manifest = manifestOf(image);
  return { ...image, configDigest, manifest: manifest.bytes, manifestDigest: manifest.digest };
}
