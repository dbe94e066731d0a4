import { onCleanup } from '../cleanup.js';
import { loadIntoEngine, removeIfUntagged } from '../docker/load.js';
import type { AssembledImage } from '../image/image-writer.js';

/** A slim image loaded into the engine untagged; unless tagged by then, it is removed at cleanup (also on Ctrl-C). */
export interface LoadedSlimImage {
  id: string;
  /** removes the image unless a tag points at it; also run at cleanup */
  release(): Promise<void>;
  /** removes the image when no tag points at it; says what became of it, for an error message */
  discard(): Promise<string>;
}

export async function loadUntagged(image: AssembledImage): Promise<LoadedSlimImage> {
  let id: string | undefined;
  const remove = onCleanup(async () => {
    if (id) await removeIfUntagged(id);
  });
  try {
    id = await loadIntoEngine(image, []);
  } catch (err) {
    await remove();
    throw err;
  }
  const loaded = id;
  return {
    id: loaded,
    release: remove,
    async discard() {
      const removed = await removeIfUntagged(loaded);
      await remove();
      return removed ? 'the slim image was removed and no tag was created' : `no tag was created (image ${loaded} is kept: other tags point at it)`;
    },
  };
}
