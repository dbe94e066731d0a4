import { readFileSync } from 'node:fs';

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

const UNLIMITED = -1;

/** Reads `/proc/<pid>/limits`: `Max open files   20000   20000   files`; "unlimited" becomes -1. */
export function parseProcLimits(text: string): Map<string, { soft: number; hard: number }> {
  const limits = new Map<string, { soft: number; hard: number }>();
  for (const line of text.split('\n').slice(1)) {
    const match = /^(Max [a-z ]+?)\s{2,}(\d+|unlimited)\s+(\d+|unlimited)/.exec(line);
    if (!match) continue;
    const value = (v: string) => (v === 'unlimited' ? UNLIMITED : Number(v));
    limits.set(match[1]!, { soft: value(match[2]!), hard: value(match[3]!) });
  }
  return limits;
}

/** Podman 4.3 lowers its own RLIMIT_NPROC to this at start, so no container it runs can get more. */
export const PODMAN_NPROC_CEILING = 32768;

function capped(limit: { soft: number; hard: number }, ceiling: number): { soft: number; hard: number } {
  const cap = (v: number) => (v === UNLIMITED || v > ceiling ? ceiling : v);
  return { soft: cap(limit.soft), hard: cap(limit.hard) };
}

/**
 * The open-file and process limits to ask Podman for. Left alone, rootful Podman 4.3 asks runc for
 * 1048576 of each, which a host that caps its own limits refuses ("error setting rlimit type 7:
 * operation not permitted"); dockerd's containers inherit the engine's limits instead. So on Podman
 * the function gets the limits slim itself runs with, as a container on the same host's dockerd would,
 * with processes at most Podman's own ceiling.
 */
export function podmanUlimits(limitsText: string): Ulimit[] {
  const limits = parseProcLimits(limitsText);
  const out: Ulimit[] = [];
  const files = limits.get('Max open files');
  if (files) {
    const c = capped(files, 1 << 20);
    out.push({ Name: 'nofile', Soft: c.soft, Hard: c.hard });
  }
  const processes = limits.get('Max processes');
  if (processes) {
    const c = capped(processes, PODMAN_NPROC_CEILING);
    out.push({ Name: 'nproc', Soft: c.soft, Hard: c.hard });
  }
  return out;
}

export function ownLimitsText(): string {
  return readFileSync('/proc/self/limits', 'utf8');
}
