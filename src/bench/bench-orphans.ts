import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { processAlive } from '../host-processes.js';
import { removeContainerdNamespace } from './bench-engine.js';
import { removeLinkParts } from './shaped-link.js';

const exec = promisify(execFile);

/** `slim-bench-<pid>-<id>`: the containerd namespaces and network namespaces a bench makes carry its pid. */
const OWNED_NAME = /^slim-bench-(\d+)-([0-9a-f]+)(?:-plugins)?$/;

function deadOwner(name: string): { id: string } | undefined {
  const match = OWNED_NAME.exec(name);
  const pid = Number(match?.[1]);
  if (!match || !pid || pid === process.pid || processAlive(pid)) return undefined;
  return { id: match[2]! };
}

/**
 * Removes what a bench killed with SIGKILL left outside its temporary directories (those, with the
 * dockerd and registry running from them, go at any slim command's start): its engine's containerd
 * namespaces, and its shaped link's network namespace, veth pair and qdisc.
 */
export async function sweepBenchOrphans(): Promise<void> {
  const namespaces = await exec('ctr', ['namespaces', 'ls', '-q']).then((r) => r.stdout.split('\n'), () => [] as string[]);
  for (const ns of namespaces) if (deadOwner(ns.trim())) await removeContainerdNamespace(ns.trim());

  const netnsList = await exec('ip', ['netns', 'list']).then((r) => r.stdout.split('\n'), () => [] as string[]);
  for (const line of netnsList) {
    const netns = line.split(' ')[0] ?? '';
    const owner = deadOwner(netns);
    if (!owner) continue;
    await removeLinkParts(netns, owner.id);
  }
}
