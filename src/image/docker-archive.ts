import { inputError } from '../errors.js';
import type { ArchiveFiles } from './archive-files.js';
import { checkLayerCount, parseImageConfig } from './config.js';
import { sha256Digest } from './digest.js';
import { checkLayerMediaType } from './layer-decoder.js';
import { parseJson } from './parse-json.js';
import { historyForLayers, type Image, type Layer, type SourceKind } from './types.js';

interface ArchiveManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
  LayerSources?: Record<string, { mediaType?: string; size?: number; digest?: string }>;
}

export interface DockerArchiveOptions {
  reference: string;
  /** pick the entry tagged so, when the archive holds several images */
  tag?: string;
  /** pick the entry whose config has this digest (the daemon source knows the image ID) */
  configDigest?: string;
  source?: SourceKind;
  close?: () => Promise<void>;
}

const BLOB_LAYER = /^blobs\/sha256\/([0-9a-f]{64})$/;

/** Reads a `docker save` archive (the manifest.json format, also written by kaniko and docker 25+). */
export async function readDockerArchive(files: ArchiveFiles, options: DockerArchiveOptions): Promise<Image> {
  const where = files.description;
  if (!(await files.has('manifest.json'))) {
    throw inputError(`${where} is not a docker-archive: it has no manifest.json`);
  }
  const manifest = parseJson<ArchiveManifestEntry[]>(await files.read('manifest.json'), `manifest.json in ${where}`);
  if (!Array.isArray(manifest) || manifest.length === 0) throw inputError(`manifest.json in ${where} lists no image`);

  const entry = await pickEntry(files, manifest, options, where);
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) {
    throw inputError(`manifest.json in ${where} has an entry without Config or Layers`);
  }
  const rawConfig = await files.read(entry.Config);
  const id = sha256Digest(rawConfig);
  const config = parseImageConfig(rawConfig, where);
  checkLayerCount(config, entry.Layers.length, `manifest.json in ${where}`);
  const diffIds = config.rootfs!.diff_ids!;
  const createdBy = historyForLayers(config, entry.Layers.length);

  const layers: Layer[] = [];
  for (const [index, path] of entry.Layers.entries()) {
    if (!(await files.has(path))) throw inputError(`${where} is missing layer ${index} (${path})`);
    const diffId = diffIds[index]!;
    const declared = entry.LayerSources?.[diffId];
    const mediaType = declared?.mediaType ?? 'application/x-tar';
    checkLayerMediaType(mediaType, `layer ${index} in ${where}`);
    const blobMatch = BLOB_LAYER.exec(path);
    layers.push({
      index,
      diffId,
      digest: blobMatch ? `sha256:${blobMatch[1]}` : undefined,
      mediaType,
      storedSize: await files.size(path),
      createdBy: createdBy[index],
      openBlob: () => files.open(path),
      storedAt: await files.locate(path),
    });
  }
  return {
    reference: options.reference,
    source: options.source ?? 'docker-archive',
    id,
    repoTags: entry.RepoTags ?? [],
    config,
    rawConfig,
    layers,
    close: options.close ?? (async () => undefined),
  };
}

async function pickEntry(
  files: ArchiveFiles,
  manifest: ArchiveManifestEntry[],
  options: DockerArchiveOptions,
  where: string,
): Promise<ArchiveManifestEntry> {
  if (options.configDigest) {
    const hex = options.configDigest.replace(/^sha256:/, '');
    for (const entry of manifest) {
      if (entry.Config?.includes(hex)) return entry;
    }
    for (const entry of manifest) {
      if (entry.Config && sha256Digest(await files.read(entry.Config)) === options.configDigest) return entry;
    }
    throw inputError(`${where} does not hold image ${options.configDigest}`);
  }
  if (options.tag) {
    const wanted = options.tag;
    const found = manifest.find((e) => (e.RepoTags ?? []).some((t) => t === wanted || t === `${wanted}:latest` || t.endsWith(`/${wanted}`)));
    if (!found) {
      const tags = manifest.flatMap((e) => e.RepoTags ?? []);
      throw inputError(`${where} holds no image tagged ${wanted}`, tags.length ? `it holds: ${tags.join(', ')}` : undefined);
    }
    return found;
  }
  if (manifest.length > 1) {
    const tags = manifest.flatMap((e) => e.RepoTags ?? []);
    throw inputError(
      `${where} holds ${manifest.length} images; name one as docker-archive:${where}:TAG`,
      tags.length ? `it holds: ${tags.join(', ')}` : undefined,
    );
  }
  return manifest[0]!;
}
