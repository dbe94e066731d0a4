import { makeTempDir, onCleanup } from '../cleanup.js';
import { readLayerListings } from '../analyze/read-layers.js';
import { spoolFailure } from '../errors.js';
import { FileIndex } from './file-index.js';
import type { LayerListing } from './layer-listing.js';
import { openImage } from './open-image.js';
import { IndexImageFs, materializeContents } from './rootfs.js';
import type { Image } from './types.js';
import type { PhaseClock } from '../timings.js';

/** An image read once: its layers' listings, the merged index and, on request, the file contents. */
export interface PreparedImage {
  image: Image;
  listings: LayerListing[];
  index: FileIndex;
  /** present when contents were materialized */
  fs?: IndexImageFs;
  close(): Promise<void>;
}

const untimed = { phase: <T>(_name: string, work: () => Promise<T>) => work() };

export interface PrepareOptions {
  contents: boolean;
  /** copy every file's content out, even those a byte range of the stored image would serve (see materializeContents) */
  extractAll?: boolean;
  clock?: Pick<PhaseClock, 'phase'>;
  /** called once the image is open, before its layers are read: work on the layers may start alongside */
  onOpened?: (image: Image) => void;
}

export async function prepareImage(reference: string, options: PrepareOptions): Promise<PreparedImage> {
  const clock = options.clock ?? untimed;
  const image = await clock.phase('opening the image', () => openImage(reference));
  options.onOpened?.(image);
  const closers: Array<() => Promise<void>> = [() => image.close()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const listings = await clock.phase('indexing its layers', () => readLayerListings(image));
    const index = FileIndex.build(listings);
    if (!options.contents) return { image, listings, index, close };
    const contents = await makeTempDir('rootfs');
    closers.push(contents.remove);
    // on Ctrl-C the extraction stops and settles before the root is removed (registered later, so it runs first),
    // or a file written after the removal would bring the directory back
    const stop = new AbortController();
    const materializing = clock.phase('locating its files', () =>
      materializeContents(image, index, listings, contents.path, undefined, stop.signal, { extractAll: options.extractAll }),
    );
    const settle = onCleanup(async () => {
      stop.abort();
      await materializing.catch(() => undefined);
    });
    const ranges = await materializing
      .catch((err: unknown) => {
        throw spoolFailure(err, `the image's files to ${contents.path}`);
      })
      .finally(settle);
    return { image, listings, index, fs: new IndexImageFs(index, contents.path, ranges), close };
  } catch (err) {
    await close();
    throw err;
  }
}
