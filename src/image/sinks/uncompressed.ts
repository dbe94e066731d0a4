import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { makeTempDir, type TempDir } from '../../cleanup.js';
import { openLayerTar } from '../layer-decoder.js';
import type { Layer } from '../types.js';

/**
 * A layer's uncompressed tar with its size known up front (a tar or HTTP upload needs it first): at hand
 * for slim's own layers, else decoded once into a temporary file that `release()` removes.
 */
export async function uncompressedTar(layer: Layer): Promise<{ size: number; open(): Readable; release(): Promise<void> }> {
  if (layer.openUncompressed && layer.uncompressedSize !== undefined) {
    const open = layer.openUncompressed.bind(layer);
    return { size: layer.uncompressedSize, open, release: async () => undefined };
  }
  const dir: TempDir = await makeTempDir('layer');
  try {
    const path = join(dir.path, 'layer.tar');
    await pipeline(openLayerTar(layer), createWriteStream(path));
    const { size } = await stat(path);
    return { size, open: () => createReadStream(path, { highWaterMark: 1 << 20 }), release: dir.remove };
  } catch (err) {
    await dir.remove();
    throw err;
  }
}
