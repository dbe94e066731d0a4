import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ConfigHistoryEntry, ContainerConfig } from '../../src/image/types.js';
import { buildTar, gzip, sha256, zstd, type TarEntrySpec } from './layers.js';

/** A synthetic image: its layers as uncompressed tars, and what its config says. */
export interface ImageSpec {
  layers: Buffer[];
  /** defaults to one `created_by: "layer N"` entry per layer */
  history?: ConfigHistoryEntry[];
  repoTags?: string[];
  config?: ContainerConfig;
  architecture?: string;
  os?: string;
  /** overrides the diff_ids computed from the layers */
  diffIds?: string[];
}

export interface BuiltConfig {
  raw: Buffer;
  digest: string;
  diffIds: string[];
}

export function imageConfig(spec: ImageSpec): BuiltConfig {
  const diffIds = spec.diffIds ?? spec.layers.map((l) => sha256(l));
  const history = spec.history ?? spec.layers.map((_, i) => ({ created_by: `layer ${i}` }));
  const raw = Buffer.from(
    JSON.stringify({
      architecture: spec.architecture ?? 'amd64',
      os: spec.os ?? 'linux',
      created: '2024-01-01T00:00:00Z',
      config: spec.config ?? { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history,
    }),
  );
  return { raw, digest: sha256(raw), diffIds };
}

/** The files of an archive by path: contents, or a symlink target. */
export type ArchiveContents = Map<string, Buffer | { symlink: string }>;

export interface DockerArchiveOptions {
  /** 'legacy': `<id>/layer.tar` and `<hex>.json` (docker < 25); 'blobs': `blobs/sha256/<hex>` (docker 25+) */
  layout?: 'legacy' | 'blobs';
  /** write a layer whose diff_id was already written as a symlink to the first copy, as docker save does */
  linkDuplicates?: boolean;
}

/** The files of a `docker save` archive holding `images`. */
export function dockerArchive(images: ImageSpec[], options: DockerArchiveOptions = {}): ArchiveContents {
  const files: ArchiveContents = new Map();
  const written = new Map<string, string>();
  const manifest = images.map((spec, imageIndex) => {
    const config = imageConfig(spec);
    const hex = config.digest.slice('sha256:'.length);
    const configPath = options.layout === 'blobs' ? `blobs/sha256/${hex}` : `${hex}.json`;
    files.set(configPath, config.raw);
    const layerPaths = spec.layers.map((layer, i) => {
      const diffHex = sha256(layer).slice('sha256:'.length);
      if (options.layout === 'blobs') {
        const path = `blobs/sha256/${diffHex}`;
        files.set(path, layer);
        return path;
      }
      const path = `img${imageIndex}-layer${i}/layer.tar`;
      const first = written.get(diffHex);
      if (first && options.linkDuplicates) files.set(path, { symlink: `../${first}` });
      else {
        files.set(path, layer);
        written.set(diffHex, path);
      }
      return path;
    });
    return { Config: configPath, RepoTags: spec.repoTags ?? null, Layers: layerPaths };
  });
  files.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
  return files;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPES = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** Builds the files of an OCI image layout: add blobs, manifests and indexes, then `finish` with index.json. */
export class OciLayoutBuilder {
  readonly files: ArchiveContents = new Map();

  blob(data: Buffer, mediaType: string): Descriptor {
    const digest = sha256(data);
    this.files.set(`blobs/sha256/${digest.slice('sha256:'.length)}`, data);
    return { mediaType, digest, size: data.length };
  }

  /** An image manifest blob for `spec`, its config and layers. */
  manifest(spec: ImageSpec, options: { compression?: keyof typeof LAYER_TYPES; layerMediaType?: string } = {}): Descriptor {
    const compression = options.compression ?? 'gzip';
    const config = imageConfig(spec);
    const configDescriptor = this.blob(config.raw, OCI_CONFIG);
    const layers = spec.layers.map((layer) => {
      const stored = compression === 'gzip' ? gzip(layer) : compression === 'zstd' ? zstd(layer) : layer;
      return this.blob(stored, options.layerMediaType ?? LAYER_TYPES[compression]);
    });
    const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers };
    return this.blob(Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
  }

  /** An image index blob listing `manifests`. */
  index(manifests: Descriptor[]): Descriptor {
    return this.blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })), OCI_INDEX);
  }

  finish(top: Descriptor[]): ArchiveContents {
    this.files.set('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    this.files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: top })));
    return this.files;
  }
}

/** A single-image OCI layout whose index.json names one manifest. */
export function ociLayout(spec: ImageSpec, options: { compression?: 'none' | 'gzip' | 'zstd'; refName?: string } = {}): ArchiveContents {
  const builder = new OciLayoutBuilder();
  const manifest = builder.manifest(spec, { compression: options.compression ?? 'gzip' });
  if (options.refName) manifest.annotations = { 'org.opencontainers.image.ref.name': options.refName };
  return builder.finish([manifest]);
}

export async function writeArchiveDir(dir: string, contents: ArchiveContents): Promise<string> {
  for (const [path, value] of contents) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    if (Buffer.isBuffer(value)) await writeFile(full, value);
    else await symlink(value.symlink, full);
  }
  return dir;
}

/** Writes the archive as a tar, with directory entries for every parent as `docker save` writes them. */
export async function writeArchiveTar(path: string, contents: ArchiveContents): Promise<string> {
  const entries: TarEntrySpec[] = [];
  const dirs = new Set<string>();
  for (const [name, value] of contents) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ path: `${d}/`, type: 'dir' });
      }
    }
    entries.push(Buffer.isBuffer(value) ? { path: name, content: value } : { path: name, type: 'symlink', linkTarget: value.symlink });
  }
  await writeFile(path, await buildTar(entries));
  return path;
}

/** A temporary directory for one test file; `remove()` deletes it. */
export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'slim-unit-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
