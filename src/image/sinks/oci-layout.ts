import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sha256Digest } from '../digest.js';
import { manifestOf, OCI_MANIFEST } from '../image-writer.js';
import type { Image } from '../types.js';

function hex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** The image as an OCI image layout directory (its layers as stored), named `refName` in index.json. */
export async function writeOciLayout(image: Image, dir: string, refName: string | undefined): Promise<void> {
  try {
    const blobs = join(dir, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const manifest = manifestOf(image);
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(blobs, hex(sha256Digest(image.rawConfig))), image.rawConfig);
    await writeFile(join(blobs, hex(manifest.digest)), manifest.bytes);
    for (const layer of image.layers) {
      await pipeline(layer.openBlob(), createWriteStream(join(blobs, hex(layer.digest ?? layer.diffId))));
    }
    const descriptor = {
      mediaType: OCI_MANIFEST,
      digest: manifest.digest,
      size: manifest.bytes.length,
      ...(refName ? { annotations: { 'org.opencontainers.image.ref.name': refName } } : {}),
    };
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [descriptor] }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
