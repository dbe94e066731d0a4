import prettyBytes from 'pretty-bytes';
import { listLayer, type LayerListing } from '../image/layer-listing.js';
import type { Image } from '../image/types.js';
import { progress as makeProgress, rate, type Progress } from '../progress.js';

/** Streams every layer of the image once, in order, into listings. Memory holds metadata, never layer data. */
export async function readLayerListings(image: Image, progress: Progress = makeProgress()): Promise<LayerListing[]> {
  const listings: LayerListing[] = [];
  const started = Date.now();
  let total = 0;
  try {
    for (const layer of image.layers) {
      listings.push(
        await listLayer(layer, (n) => {
          total += n;
          progress.update(`reading layer ${layer.index + 1}/${image.layers.length}  ${prettyBytes(total)}  ${rate(total, started)}`);
        }),
      );
    }
  } finally {
    progress.done();
  }
  return listings;
}
