import { requireEngine } from '../docker/engine.js';
import { removeIfUntagged, tagImage } from '../docker/load.js';
import { usageError } from '../errors.js';
import type { Image } from '../image/types.js';

/** `slim-fixture/app:v1` → `slim-fixture/app:v1-slim`; an image ID has no name to derive from. */
export function defaultSlimTag(reference: string): string | undefined {
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(reference)) return undefined;
  const at = reference.indexOf('@');
  const name = at === -1 ? reference : reference.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? `${name}-slim` : `${name}:latest-slim`;
}

const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?';
const TAG_NAME = new RegExp(`^${HOST}${NAME_COMPONENT}(?:/${NAME_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$`);

/** A --tag the engine would refuse fails before any work, not after the build (Docker's reference grammar). */
export function requireValidTag(tag: string): void {
  if (tag.length <= 255 && TAG_NAME.test(tag)) return;
  throw usageError(`--tag ${JSON.stringify(tag)} is not a valid image name`, 'use NAME[:TAG]: a lowercase name of letters, digits and . _ - parts joined by /, and a tag of letters, digits and . _ -');
}

/** slim never retags the original: a tag naming it is a usage error. */
export function refuseOriginalTag(original: Image, tag: string | undefined): void {
  if (tag && (original.repoTags.includes(tag) || tag === original.reference)) throw usageError(`--tag ${tag} names the original image; slim never retags it`);
}

/**
 * Points the slim tag at the new image. A previous slim build the tag pointed at (one carrying slim's
 * label) is removed when no tag refers to it any more, so rebuilding does not pile up dangling images.
 */
export async function retag(slimId: string, tag: string): Promise<void> {
  const engine = await requireEngine();
  const previous = await engine.getImage(tag).inspect().catch(() => undefined);
  await tagImage(slimId, tag);
  if (previous && previous.Id !== slimId && previous.Config?.Labels?.['io.slim.version']) await removeIfUntagged(previous.Id);
}
