import { constants } from 'node:fs';
import { access, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { usageError, writeFailure } from '../errors.js';
import { writeDockerArchiveFile, writeOciLayout, type AssembledImage } from '../image/image-writer.js';

export type BuildOutput = { kind: 'docker-archive'; path: string } | { kind: 'oci'; path: string };

export function parseOutput(text: string): BuildOutput {
  if (text.startsWith('docker-archive:') && text.length > 'docker-archive:'.length) return { kind: 'docker-archive', path: text.slice('docker-archive:'.length) };
  if (text.startsWith('oci:') && text.length > 4) return { kind: 'oci', path: text.slice(4) };
  throw usageError(`--output ${text}: use docker-archive:FILE or oci:DIR`);
}

export function describeOutput(output: BuildOutput): string {
  return `${output.kind}:${output.path}`;
}

/** An OCI output directory must be new or empty: a failed write removes it, and must not remove a user's files. */
export async function checkOutput(output: BuildOutput): Promise<void> {
  if (output.kind === 'docker-archive') {
    const dir = dirname(output.path) || '.';
    if (!(await access(dir, constants.W_OK).then(() => true, () => false))) {
      throw usageError(`--output docker-archive:${output.path}: ${dir} is not a writable directory`);
    }
    return;
  }
  const info = await stat(output.path).catch(() => undefined);
  if (!info) {
    // a new directory: the nearest existing parent must take it
    let parent = dirname(output.path);
    while (parent !== dirname(parent) && !(await stat(parent).then((i) => i.isDirectory(), () => false))) parent = dirname(parent);
    if (!(await access(parent, constants.W_OK).then(() => true, () => false))) {
      throw usageError(`--output oci:${output.path}: ${parent} is not a writable directory`);
    }
    return;
  }
  if (!info.isDirectory() || (await readdir(output.path)).length > 0) {
    throw usageError(`--output oci:${output.path}: the directory exists and is not empty`, 'name a new or empty directory');
  }
}

/** Writes the image to a file sink; a failed write removes the partial output. */
export async function writeOutput(image: AssembledImage, output: BuildOutput, tag: string | undefined): Promise<void> {
  try {
    if (output.kind === 'docker-archive') await writeDockerArchiveFile(image, tag ? [tag] : [], output.path);
    else {
      await mkdir(output.path, { recursive: true });
      await writeOciLayout(image, output.path, tag ? tag.slice(tag.lastIndexOf(':') + 1) : undefined);
    }
  } catch (err) {
    throw writeFailure(err, describeOutput(output));
  }
}
