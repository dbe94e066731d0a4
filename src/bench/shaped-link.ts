import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { onCleanup } from '../cleanup.js';
import { SlimError, usageError } from '../errors.js';
import { stopProcesses } from '../host-processes.js';

const exec = promisify(execFile);

export interface ShapedLink {
  /** network namespace to run the registry in (`ip netns exec NETNS ...`) */
  netns: string;
  /** 198.18.X.1, the host end of the veth pair */
  hostAddress: string;
  /** 198.18.X.2, the namespace end: a server listening here is reached through the shaped link */
  nsAddress: string;
  rate: string;
  remove(): Promise<void>;
}

export const RATE_PATTERN = /^\d+(\.\d+)?(bit|kbit|mbit|gbit)$/;

async function ip(args: string[]): Promise<string> {
  try {
    return (await exec('ip', args)).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new SlimError(`ip ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** A free 198.18.X.0/30 (RFC 2544 benchmarking range): X is not used by any address on the host. */
async function freeSubnet(): Promise<number> {
  const used = new Set([...(await ip(['-o', '-4', 'addr'])).matchAll(/inet 198\.18\.(\d+)\./g)].map((m) => Number(m[1])));
  const free = [...Array(256).keys()].filter((x) => !used.has(x));
  if (free.length === 0) throw new SlimError('no free /30 left in 198.18.0.0/16 for a shaped link');
  return free[randomInt(free.length)];
}

/**
 * Names of a link's parts. The namespace carries slim's pid, so a later bench can remove the link of a
 * killed one; interface names allow 15 characters, so the veths carry only the id.
 */
export function linkNames(id: string): { netns: string; hostVeth: string; nsVeth: string } {
  return { netns: `slim-bench-${process.pid}-${id}`, hostVeth: `sb-${id}-h`, nsVeth: `sb-${id}-n` };
}

/**
 * Removes a link's namespace (stopping what still runs in it first: a namespace with processes in it
 * outlives `ip netns del`, and its veth with it) and the host end of its veth pair. Best effort: what
 * does not exist is not an error.
 */
export async function removeLinkParts(netns: string, id: string): Promise<void> {
  const pids = await exec('ip', ['netns', 'pids', netns]).then((r) => r.stdout.split(/\s+/).filter(Boolean).map(Number), () => []);
  await stopProcesses(pids, 2000);
  await exec('ip', ['netns', 'del', netns]).catch(() => undefined);
  await exec('ip', ['link', 'del', linkNames(id).hostVeth]).catch(() => undefined);
}

/**
 * A network namespace joined to the host by a veth pair whose namespace end sends at most `rate`:
 * a registry listening on nsAddress serves pulls at that bandwidth (egress from the namespace is the download).
 */
export async function createShapedLink(options: { rate: string }): Promise<ShapedLink> {
  const { rate } = options;
  if (!RATE_PATTERN.test(rate)) throw usageError(`invalid bandwidth ${JSON.stringify(rate)}`, 'give a tc rate such as 200mbit, 50mbit or 1gbit');
  const id = randomBytes(2).toString('hex');
  const { netns, hostVeth, nsVeth } = linkNames(id);
  const x = await freeSubnet();
  const hostAddress = `198.18.${x}.1`;
  const nsAddress = `198.18.${x}.2`;

  // registered before anything exists, so Ctrl-C halfway through still removes what was made
  const remove = onCleanup(() => removeLinkParts(netns, id));
  try {
    await ip(['netns', 'add', netns]);
    await ip(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', nsVeth]);
    await ip(['link', 'set', nsVeth, 'netns', netns]);
    await ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostVeth]);
    await ip(['link', 'set', hostVeth, 'up']);
    await ip(['-n', netns, 'addr', 'add', `${nsAddress}/30`, 'dev', nsVeth]);
    await ip(['-n', netns, 'link', 'set', nsVeth, 'up']);
    await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    try {
      await exec('ip', ['netns', 'exec', netns, 'tc', 'qdisc', 'add', 'dev', nsVeth, 'root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '50ms']);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new SlimError(`cannot shape the link to ${rate}: ${(e.stderr || e.message).trim()}`);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { netns, hostAddress, nsAddress, rate, remove };
}
