import type { Readable } from 'node:stream';
import type { ContentRange } from './content-range.js';

/** The parts of an OCI/Docker image config slim reads. Unknown fields are kept in `Image.rawConfig`. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: unknown;
}

export interface ConfigHistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfigFile {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: ContainerConfig;
  rootfs?: { type?: string; diff_ids?: string[] };
  history?: ConfigHistoryEntry[];
}

/** where an image came from: a source, or slim itself (the slim image) */
export type SourceKind = 'daemon' | 'docker-archive' | 'oci' | 'slim';
export type Compression = 'gzip' | 'zstd' | 'none';

export interface Layer {
  /** position in the image, 0 = base */
  readonly index: number;
  /** digest of the uncompressed tar (config rootfs.diff_ids) */
  readonly diffId: string;
  /** digest of the blob as stored, when the source names one (OCI, compressed archives) */
  readonly digest?: string;
  readonly mediaType: string;
  /** bytes of the blob as stored in the source (compressed size when the source compresses) */
  readonly storedSize: number;
  /** the history entry that created this layer, if the config has one */
  readonly createdBy?: string;
  /** the stored blob, exactly as the source holds it (possibly compressed) */
  openBlob(): Readable;
  /** annotations of its manifest descriptor (an eStargz TOC digest, say) */
  readonly annotations?: Record<string, string>;
  /** bytes of the uncompressed tar, when the place the layer lives knows it without reading it */
  readonly uncompressedSize?: number;
  /** the uncompressed tar, when it is at hand as such (slim's own layers); else decode `openBlob()` */
  openUncompressed?(): Readable;
  /** where the stored blob lies in a local file, when it does (a spooled or saved archive, an OCI layout) */
  readonly storedAt?: ContentRange;
}

/** One image, whichever source it came from. Commands never ask where it came from. */
export interface Image {
  /** how the user named it */
  readonly reference: string;
  readonly source: SourceKind;
  /** config digest, e.g. sha256:… (the image ID Docker shows) */
  readonly id: string;
  readonly repoTags: string[];
  readonly config: ImageConfigFile;
  readonly rawConfig: Buffer;
  readonly layers: Layer[];
  /** releases temporary files (a spooled `docker save`, a decompressed archive) */
  close(): Promise<void>;
}

export const LAYER_MEDIA_TYPES: Record<string, Compression | 'detect'> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  /** docker-archive layers carry no media type: compression is read from the data */
  'application/x-tar': 'detect',
};

/** Pairs each layer with the history entry that made it (entries marked empty_layer made none). */
export function historyForLayers(config: ImageConfigFile, layerCount: number): (string | undefined)[] {
  const result: (string | undefined)[] = [];
  for (const entry of config.history ?? []) {
    if (entry.empty_layer) continue;
    result.push(entry.created_by);
  }
  return Array.from({ length: layerCount }, (_, i) => result[i]);
}
