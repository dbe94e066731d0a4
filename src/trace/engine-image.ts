import type Docker from 'dockerode';
import { engineName, requireEngine } from '../docker/engine.js';
import { inputError } from '../errors.js';
import { parseImageLocation } from '../image/open-image.js';

/** Tracing, building and verifying run the image: it must be in the Docker engine. Checked before any work. */
export async function requireEngineReference(reference: string): Promise<void> {
  const location = await parseImageLocation(reference);
  if (location.kind !== 'daemon') {
    throw inputError(
      `${reference} is a file, and tracing runs the image in ${engineName()}`,
      'load it first: docker load -i FILE (podman load -i FILE), or skopeo copy oci:DIR docker-daemon:NAME:TAG',
    );
  }
}

/** What the engine says of the image (its ID, platform and config), or undefined when it has none (reading it then says why). */
export async function engineImage(reference: string): Promise<Docker.ImageInspectInfo | undefined> {
  const engine = await requireEngine().catch(() => undefined);
  if (!engine) return undefined;
  return engine
    .getImage(reference)
    .inspect()
    .catch(() => undefined);
}
