import { makeTempDir, onCleanup } from '../cleanup.js';
import { readLayerListings } from '../analyze/read-layers.js';
import { spoolFailure } from '../errors.js';
import { FileIndex } from './file-index.js';
import type { LayerListing } from './layer-listing.js';
import { openImage } from './open-image.js';
import { IndexImageFs, materializeContents } from './rootfs.js';
import type { Image } from './types.js';

/** An image read once: its layers' listings, the merged index and, on request, the file contents. */
export interface PreparedImage {
  image: Image;
  listings: LayerListing[];
  index: FileIndex;
  /** present when contents were materialized */
  fs?: IndexImageFs;
  close(): Promise<void>;
}

export async function prepareImage(reference: string, options: { contents: boolean }): Promise<PreparedImage> {
  const image = await openImage(reference);
  const closers: Array<() => Promise<void>> = [() => image.close()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const listings = await readLayerListings(image);
    const index = FileIndex.build(listings);
    if (!options.contents) return { image, listings, index, close };
    const contents = await makeTempDir('rootfs');
    closers.push(contents.remove);
    // on Ctrl-C the extraction stops and settles before the root is removed (registered later, so it runs first),
    // or a file written after the removal would bring the directory back
    const stop = new AbortController();
    const materializing = materializeContents(image, index, listings, contents.path, undefined, stop.signal);
    const settle = onCleanup(async () => {
      stop.abort();
      await materializing.catch(() => undefined);
    });
    await materializing
      .catch((err: unknown) => {
        throw spoolFailure(err, `the image's files to ${contents.path}`);
      })
      .finally(settle);
    return { image, listings, index, fs: new IndexImageFs(index, contents.path), close };
  } catch (err) {
    await close();
    throw err;
  }
}
