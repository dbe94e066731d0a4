import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheRoot, writeFileEntry } from '../cache.js';
import { gzipSize } from './layer-writer.js';
import { openLayerTar } from './layer-decoder.js';
import type { Layer } from './types.js';

/** Bump when the gzip settings of deterministicGzip change. */
const FORMAT = 1;

/**
 * The gzip size of each layer slim measured, by the layer's diff_id (the sha256 of its tar, so the same
 * key always means the same bytes) and the zlib that compressed it. Gzipping an original's layers is a
 * build's largest CPU cost, and in CI the same base and dependency layers come back on every build.
 */
export class GzipSizeCache {
  constructor(readonly root: string = cacheRoot()) {}

  private file(diffId: string): string {
    return join(this.root, 'gzip-size', `${FORMAT}-zlib-${process.versions.zlib}`, diffId.replace(/^sha256:/, ''));
  }

  async get(diffId: string): Promise<number | undefined> {
    const text = await readFile(this.file(diffId), 'utf8').catch(() => undefined);
    const size = text === undefined ? NaN : Number(text.trim());
    return Number.isSafeInteger(size) && size > 0 ? size : undefined;
  }

  /** A cache that cannot be written is only slower, never a failure. */
  async put(diffId: string, size: number): Promise<void> {
    if (!/^sha256:[0-9a-f]{64}$/.test(diffId)) return;
    await writeFileEntry(this.file(diffId), `${size}\n`).catch(() => undefined);
  }

  /** The layer's tar gzip-compressed as slim compresses its own: from the cache, else measured and kept. */
  async layerSize(layer: Layer, signal?: AbortSignal): Promise<number> {
    const cached = await this.get(layer.diffId);
    if (cached !== undefined) return cached;
    const size = await gzipSize(openLayerTar(layer), signal);
    await this.put(layer.diffId, size);
    return size;
  }
}
