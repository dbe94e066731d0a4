import { constants } from 'node:fs';
import { access, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { usageError } from '../../errors.js';
import { splitTrailingRef } from '../open-image.js';
import type { Image } from '../types.js';
import { writeDockerArchiveFile } from './docker-archive.js';
import { writeOciLayout } from './oci-layout.js';
import { parseRegistryTarget, pushImage } from './registry.js';

export interface SinkOptions {
  /** NAME:TAG the image is known by (a docker-archive's RepoTags, an OCI ref name) */
  tag?: string;
  /** verify the registry's TLS certificate (off: also plain HTTP, for a local registry) */
  tlsVerify: boolean;
}

/** A place an image can be written to: the write side of a source, taking any Image. */
export interface Sink {
  /** the prefix that names it: `docker-archive:FILE`, `oci:DIR`, `registry:HOST/REPO:TAG` */
  scheme: string;
  usage: string;
  /** checks the destination before any work (exit 2 when it cannot be written) */
  check(destination: string): Promise<void>;
  write(image: Image, destination: string, options: SinkOptions): Promise<void>;
}

async function writableDirectory(dir: string): Promise<boolean> {
  return access(dir, constants.W_OK).then(() => true, () => false);
}

const dockerArchive: Sink = {
  scheme: 'docker-archive',
  usage: 'docker-archive:FILE',
  async check(path) {
    const dir = dirname(path) || '.';
    if (!(await writableDirectory(dir))) throw usageError(`--output docker-archive:${path}: ${dir} is not a writable directory`);
  },
  write: (image, path, options) => writeDockerArchiveFile(image, options.tag ? [options.tag] : [], path),
};

/** `DIR[:REF]`, split as an `oci:` source is when the directory does not exist yet. */
export function ociDestination(destination: string): { dir: string; ref?: string } {
  const { path, ref } = splitTrailingRef(destination);
  return ref ? { dir: path, ref } : { dir: path };
}

const ociLayout: Sink = {
  scheme: 'oci',
  usage: 'oci:DIR[:REF]',
  /** The directory must be new or empty: a failed write removes it, and must not remove a user's files. */
  async check(destination) {
    const { dir: path } = ociDestination(destination);
    if (path === '') throw usageError(`--output oci:${destination}: name the directory`, 'use oci:DIR or oci:DIR:REF');
    const info = await stat(path).catch(() => undefined);
    if (!info) {
      let parent = dirname(path);
      while (parent !== dirname(parent) && !(await stat(parent).then((i) => i.isDirectory(), () => false))) parent = dirname(parent);
      if (!(await writableDirectory(parent))) throw usageError(`--output oci:${path}: ${parent} is not a writable directory`);
      return;
    }
    if (!info.isDirectory() || (await readdir(path)).length > 0) throw usageError(`--output oci:${path}: the directory exists and is not empty`, 'name a new or empty directory');
  },
  async write(image, destination, options) {
    const { dir, ref } = ociDestination(destination);
    await mkdir(dir, { recursive: true });
    // the ref name: the one given, else the tag's (as skopeo names an image copied without one)
    await writeOciLayout(image, dir, ref ?? (options.tag ? options.tag.slice(options.tag.lastIndexOf(':') + 1) : undefined));
  },
};

const registry: Sink = {
  scheme: 'registry',
  usage: 'registry:HOST/REPO:TAG',
  check: async (target) => void parseRegistryTarget(target),
  write: async (image, target, options) => void (await pushImage(image, parseRegistryTarget(target), { tlsVerify: options.tlsVerify })),
};

const SINKS: Record<string, Sink> = Object.fromEntries([dockerArchive, ociLayout, registry].map((s) => [s.scheme, s]));

export interface SinkTarget {
  sink: Sink;
  destination: string;
  /** as the user wrote it */
  text: string;
}

/** `SCHEME:DESTINATION` → the sink and where it writes. */
export function parseSinkTarget(text: string): SinkTarget {
  const colon = text.indexOf(':');
  const sink = colon > 0 ? SINKS[text.slice(0, colon)] : undefined;
  const destination = text.slice(colon + 1);
  if (!sink || destination === '') throw usageError(`--output ${text}: use ${Object.values(SINKS).map((s) => s.usage).join(', ')}`);
  return { sink, destination, text };
}
