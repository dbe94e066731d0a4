import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { inputError, SlimError } from '../errors.js';
import { LAYER_MEDIA_TYPES, type Compression, type Layer } from './types.js';

export function describeLayer(layer: Pick<Layer, 'index' | 'diffId'>): string {
  return `layer ${layer.index} (${shortDigest(layer.diffId)})`;
}

export function shortDigest(digest: string): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Checks a layer's media type up front so an unsupported one is reported before any work starts. */
export function checkLayerMediaType(mediaType: string, where: string): void {
  if (!(mediaType in LAYER_MEDIA_TYPES)) {
    throw inputError(
      `${where} has unsupported media type ${mediaType}`,
      'slim reads tar layers that are uncompressed, gzip or zstd (OCI and Docker media types)',
    );
  }
}

/** A digest mismatch or undecodable data in a layer: the image is corrupt. */
export class LayerDataError extends SlimError {}

function verifyDigest(expected: string | undefined, what: () => string) {
  return async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
    if (expected && expected.startsWith('sha256:')) {
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== expected) {
        throw new LayerDataError(`${what()} does not match its digest: expected ${expected}, got ${actual}`, 3);
      }
    }
  };
}

async function* decompress(source: AsyncIterable<Buffer>, declared: Compression | 'detect', where: string): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  let first = await iterator.next();
  while (!first.done && first.value.length === 0) first = await iterator.next();
  if (first.done) return;
  const head: Buffer = first.value;
  const actual = detectCompression(head);
  if (declared !== 'detect' && declared !== actual) {
    throw new LayerDataError(`${where} is declared ${declared} but its data is ${actual === 'none' ? 'not compressed' : actual}`, 3);
  }
  const all = (async function* () {
    yield head;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  })();
  if (actual === 'none') {
    yield* all;
  } else if (actual === 'gzip') {
    const gunzip = createGunzip();
    const feeding = pipeline(Readable.from(all), gunzip).catch(() => undefined);
    for await (const chunk of gunzip) yield chunk as Buffer;
    await feeding;
  } else {
    const out: Buffer[] = [];
    const decoder = new ZstdDecompress((data) => {
      out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
    for await (const chunk of all) {
      decoder.push(chunk);
      if (out.length) yield* out.splice(0);
    }
    decoder.push(new Uint8Array(0), true);
    if (out.length) yield* out.splice(0);
  }
}

/**
 * The layer's uncompressed tar as a stream. Compression is read from the data (and must agree with
 * the media type); the stored blob and the uncompressed tar are both checked against their digests,
 * and a mismatch or corrupt data ends the stream with an error that names the layer.
 */
export function openLayerTar(layer: Layer): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const where = describeLayer(layer);
  const declared = LAYER_MEDIA_TYPES[layer.mediaType] ?? 'detect';
  pipeline(
    layer.openBlob(),
    // an uncompressed blob's digest is its diff_id: hash it once
    verifyDigest(layer.digest === layer.diffId ? undefined : layer.digest, () => `${where}'s stored blob`),
    (source: AsyncIterable<Buffer>) => decompress(source, declared, where),
    verifyDigest(layer.diffId, () => `${where}'s content`),
    out,
  ).catch((err: unknown) => {
    out.destroy(wrapLayerError(err, where));
  });
  return out;
}

export function wrapLayerError(err: unknown, where: string): Error {
  if (err instanceof SlimError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new LayerDataError(`${where} is truncated or corrupt: ${message}`, 3);
}
