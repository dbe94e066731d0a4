import { inputError } from '../errors.js';
import { isDigest } from './digest.js';
import { parseJson } from './parse-json.js';
import type { ImageConfigFile } from './types.js';

/** Parses an image config and checks the fields every later step relies on. */
export function parseImageConfig(raw: Buffer, where: string): ImageConfigFile {
  const config = parseJson<ImageConfigFile>(raw, `image config in ${where}`);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw inputError(`image config in ${where} is not a JSON object`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every(isDigest)) {
    throw inputError(`image config in ${where} has no valid rootfs.diff_ids`);
  }
  return config;
}

export function checkLayerCount(config: ImageConfigFile, layerCount: number, where: string): void {
  const expected = config.rootfs?.diff_ids?.length ?? 0;
  if (expected !== layerCount) {
    throw inputError(`${where} lists ${layerCount} layers but its config has ${expected} diff_ids`);
  }
}
