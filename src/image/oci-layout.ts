import { inputError } from '../errors.js';
import type { ArchiveFiles } from './archive-files.js';
import { checkLayerCount, parseImageConfig } from './config.js';
import { blobPath, isDigest, sha256Digest } from './digest.js';
import { checkLayerMediaType } from './layer-decoder.js';
import { parseJson } from './parse-json.js';
import { historyForLayers, type Image, type Layer } from './types.js';

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

interface IndexFile {
  mediaType?: string;
  manifests?: Descriptor[];
}

interface ManifestFile {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
const REF_ANNOTATIONS = ['org.opencontainers.image.ref.name', 'io.containerd.image.name'];

export const WANTED_PLATFORM = { os: 'linux', architecture: 'amd64' };

export interface OciLayoutOptions {
  reference: string;
  /** value of the org.opencontainers.image.ref.name annotation to pick, when the layout holds several */
  ref?: string;
  close?: () => Promise<void>;
}

async function readBlob(files: ArchiveFiles, descriptor: Descriptor, what: string): Promise<Buffer> {
  if (!isDigest(descriptor.digest)) throw inputError(`${what} has no valid digest`);
  const path = blobPath(descriptor.digest);
  if (!(await files.has(path))) throw inputError(`${files.description} is missing ${what} ${descriptor.digest}`);
  const data = await files.read(path);
  if (descriptor.digest.startsWith('sha256:') && sha256Digest(data) !== descriptor.digest) {
    throw inputError(`${what} in ${files.description} does not match its digest ${descriptor.digest}`);
  }
  return data;
}

/** Reads an OCI image layout (a directory or a tarball of one). */
export async function readOciLayout(files: ArchiveFiles, options: OciLayoutOptions): Promise<Image> {
  const where = files.description;
  if (!(await files.has('oci-layout')) || !(await files.has('index.json'))) {
    throw inputError(`${where} is not an OCI image layout: it has no oci-layout or index.json`);
  }
  const index = parseJson<IndexFile>(await files.read('index.json'), `index.json in ${where}`);
  const top = pickTopLevel(index, options.ref, where);
  const manifestDescriptor = await resolvePlatform(files, top, where);
  const manifest = parseJson<ManifestFile>(await readBlob(files, manifestDescriptor, 'image manifest'), `image manifest in ${where}`);
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw inputError(`image manifest ${manifestDescriptor.digest} in ${where} has no config or layers`);
  }
  const rawConfig = await readBlob(files, manifest.config, 'image config');
  const config = parseImageConfig(rawConfig, where);
  checkLayerCount(config, manifest.layers.length, `image manifest in ${where}`);
  const diffIds = config.rootfs!.diff_ids!;
  const createdBy = historyForLayers(config, manifest.layers.length);

  const layers: Layer[] = [];
  for (const [i, descriptor] of manifest.layers.entries()) {
    const mediaType = descriptor.mediaType ?? '';
    checkLayerMediaType(mediaType || '(none)', `layer ${i} in ${where}`);
    if (!isDigest(descriptor.digest)) throw inputError(`layer ${i} in ${where} has no valid digest`);
    const path = blobPath(descriptor.digest);
    if (!(await files.has(path))) throw inputError(`${where} is missing layer ${i} (${descriptor.digest})`);
    layers.push({
      index: i,
      diffId: diffIds[i]!,
      digest: descriptor.digest,
      mediaType,
      storedSize: await files.size(path),
      createdBy: createdBy[i],
      openBlob: () => files.open(path),
      storedAt: await files.locate(path),
      // an eStargz layer's TOC digest lives here: a sink that drops it makes the layer unmountable lazily
      ...(descriptor.annotations && Object.keys(descriptor.annotations).length ? { annotations: descriptor.annotations } : {}),
    });
  }
  const tag = top.annotations?.[REF_ANNOTATIONS[1]!] ?? top.annotations?.[REF_ANNOTATIONS[0]!];
  return {
    reference: options.reference,
    source: 'oci',
    id: manifest.config.digest!,
    repoTags: tag ? [tag] : [],
    config,
    rawConfig,
    layers,
    close: options.close ?? (async () => undefined),
  };
}

function refOf(descriptor: Descriptor): string | undefined {
  for (const key of REF_ANNOTATIONS) {
    const value = descriptor.annotations?.[key];
    if (value) return value;
  }
  return undefined;
}

function pickTopLevel(index: IndexFile, ref: string | undefined, where: string): Descriptor {
  const manifests = Array.isArray(index.manifests) ? index.manifests : [];
  if (manifests.length === 0) throw inputError(`index.json in ${where} lists no manifests`);
  if (ref) {
    const found = manifests.find((d) => {
      const name = refOf(d);
      return name === ref || d.annotations?.['org.opencontainers.image.ref.name'] === ref || name?.endsWith(`:${ref}`);
    });
    if (!found) throw inputError(`${where} has no image named ${ref}`, `it has: ${manifests.map(refOf).filter(Boolean).join(', ') || 'no named images'}`);
    return found;
  }
  if (manifests.length > 1) {
    const names = manifests.map(refOf).filter(Boolean);
    // several platform manifests directly in index.json are one multi-platform image, not several images
    if (names.length > 1 && new Set(names).size > 1) {
      throw inputError(`${where} holds ${manifests.length} images; name one as oci:${where}:REF`, `it has: ${names.join(', ')}`);
    }
    return { mediaType: 'application/vnd.oci.image.index.v1+json', manifests } as Descriptor & IndexFile;
  }
  return manifests[0]!;
}

function platformName(d: Descriptor): string {
  const p = d.platform;
  if (!p) return 'unknown platform';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Follows image indexes down to the linux/amd64 manifest. */
async function resolvePlatform(files: ArchiveFiles, descriptor: Descriptor & IndexFile, where: string): Promise<Descriptor> {
  let current: Descriptor & IndexFile = descriptor;
  for (let depth = 0; depth < 8; depth++) {
    const mediaType = current.mediaType ?? '';
    if (MANIFEST_TYPES.has(mediaType)) return current;
    if (!INDEX_TYPES.has(mediaType)) {
      throw inputError(`${where} has a manifest of unsupported media type ${mediaType || '(none)'}`);
    }
    const nested: IndexFile = current.manifests
      ? current
      : parseJson<IndexFile>(await readBlob(files, current, 'image index'), `image index in ${where}`);
    const candidates = (nested.manifests ?? []).filter(
      (d) => !d.annotations?.['vnd.docker.reference.type'], // attestation manifests ride along in docker's indexes
    );
    const match =
      candidates.find((d) => d.platform?.os === WANTED_PLATFORM.os && d.platform?.architecture === WANTED_PLATFORM.architecture) ??
      (candidates.length === 1 && !candidates[0]!.platform ? candidates[0] : undefined);
    if (!match) {
      const has = candidates.map(platformName).join(', ') || 'nothing';
      throw inputError(`image index in ${where} has no linux/amd64 entry (it has ${has})`, 'slim runs amd64 images; build or pull the linux/amd64 variant');
    }
    current = match;
  }
  throw inputError(`image indexes in ${where} nest too deeply`);
}
