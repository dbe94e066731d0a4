import type Docker from 'dockerode';
import { errorMessage, SlimError } from '../errors.js';
import { fetchManifestLayers, splitReference } from './registry.js';

export interface PullResult {
  seconds: number;
  /** compressed bytes of the layers this pull downloaded (layers already present are not counted) */
  bytes: number;
  /** digests (or short ids when the manifest was unavailable) of the downloaded layers */
  downloaded: string[];
}

interface ProgressEvent {
  id?: string;
  status?: string;
  error?: string;
  progressDetail?: { current?: number; total?: number };
}

/** How a node's engine keeps layers on disk, so a removal can be checked against the store itself. */
export interface LayerStore {
  /** those of the image's layers (by diff ID, in order) still stored */
  left(diffIds: string[]): Promise<string[]>;
  /** how many layers are stored at all */
  count(): Promise<number>;
}

export interface EngineImageOps {
  /** `docker pull` through the engine's API, timed */
  pull(reference: string): Promise<PullResult>;
  /**
   * Removes the image, every image and container sharing a layer with it, and dangling images, then checks
   * that none of its layers is left, so the next pull is cold.
   */
  removeImageCompletely(reference: string): Promise<void>;
  /** Removes every container and image, so the next pull meets an empty node; fails if a layer is left. */
  removeEverything(): Promise<void>;
}

/**
 * Pulls and removals on a bench node's engine through the Docker Engine API, which dockerd and
 * Podman's service both speak (Podman's pull reports "Pulling fs layer" and "Already exists" per blob
 * as dockerd does).
 */
export function engineImageOps(docker: Docker, store: LayerStore): EngineImageOps {
  const pull = async (reference: string): Promise<PullResult> => {
    const events: ProgressEvent[] = [];
    const began = performance.now();
    try {
      const stream = await docker.pull(reference);
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()), (event: ProgressEvent) => events.push(event)),
      );
    } catch (err) {
      throw new SlimError(`the bench engine cannot pull ${reference}: ${errorMessage(err)}`);
    }
    const seconds = (performance.now() - began) / 1000;
    const failed = events.find((e) => e.error);
    if (failed) throw new SlimError(`the bench engine cannot pull ${reference}: ${failed.error}`);

    // progress events name layers by the first 12 hex digits of their digest
    const fetched = new Set(events.filter((e) => e.id && e.status === 'Pulling fs layer').map((e) => e.id as string));
    const parts = splitReference(reference);
    const manifest = parts ? await fetchManifestLayers(parts.registry, parts.name, parts.ref).catch(() => undefined) : undefined;
    if (manifest) {
      const layers = manifest.filter((l) => fetched.has(l.digest.slice(7, 19)));
      return { seconds, bytes: layers.reduce((sum, l) => sum + l.size, 0), downloaded: layers.map((l) => l.digest) };
    }
    const totals = new Map<string, number>();
    for (const e of events) if (e.id && fetched.has(e.id) && e.progressDetail?.total) totals.set(e.id, e.progressDetail.total);
    return { seconds, bytes: [...totals.values()].reduce((a, b) => a + b, 0), downloaded: [...fetched] };
  };

  const removeImageCompletely = async (reference: string): Promise<void> => {
    const target = await docker
      .getImage(reference)
      .inspect()
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode === 404) return undefined;
        throw err;
      });
    if (!target) return;
    const diffIds = new Set(target.RootFS.Layers ?? []);
    const sharing: string[] = [];
    for (const image of await docker.listImages({ all: true })) {
      const layers = image.Id === target.Id ? [] : ((await docker.getImage(image.Id).inspect()).RootFS.Layers ?? []);
      if (image.Id === target.Id || layers.some((l) => diffIds.has(l))) sharing.push(image.Id);
    }
    for (const c of await docker.listContainers({ all: true })) {
      if (sharing.includes(c.ImageID)) await docker.getContainer(c.Id).remove({ force: true, v: true });
    }
    for (const id of sharing) {
      await docker
        .getImage(id)
        .remove({ force: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        });
    }
    await docker.pruneImages({ filters: { dangling: { true: true } } });
    const left = await store.left(target.RootFS.Layers ?? []);
    if (left.length > 0) throw new SlimError(`the bench engine still holds ${left.length} layer(s) of ${reference} after removing it: ${left.join(', ')}`);
  };

  const removeEverything = async (): Promise<void> => {
    for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true, v: true });
    for (const image of await docker.listImages({ all: true })) {
      await docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        });
    }
    await docker.pruneImages({ filters: { dangling: { false: true } } });
    const left = await store.count();
    if (left > 0) throw new SlimError(`the bench engine still holds ${left} layer(s) after removing every image`);
  };

  return { pull, removeImageCompletely, removeEverything };
}
