import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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

/** Podman 4.3 sets its own RLIMIT_NPROC to this at start (seen with strace), so no container it runs can get more. */
export const PODMAN_NPROC_CEILING = 32768;

function capped(limit: { soft: number; hard: number }, ceiling: number): { soft: number; hard: number } {
  const cap = (v: number) => (v === UNLIMITED || v > ceiling ? ceiling : v);
  return { soft: cap(limit.soft), hard: cap(limit.hard) };
}

/**
 * The open-file and process limits to ask Podman for. Left alone, rootful Podman 4.3 asks runc for
 * 1048576 of each, which a host that caps its own limits refuses ("error setting rlimit type 7:
 * operation not permitted"); dockerd's containers inherit the engine's limits instead. So on Podman
 * the function gets the limits of the Podman service itself (`limitsText`, its /proc/PID/limits), as
 * a dockerd container gets dockerd's. Capped, for when only slim's own limits could be read.
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

/** Inodes of the unix sockets bound to `path`, from /proc/net/unix (`Num RefCount Protocol Flags Type St Inode Path`). */
export function socketInodes(procNetUnix: string, path: string): string[] {
  return procNetUnix
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8 && fields.slice(7).join(' ') === path)
    .map((fields) => fields[6]!);
}

/** The process listening on the unix socket `path` (a systemd-activated socket: the service, not pid 1), if this host shows it. */
export function socketOwner(path: string): number | undefined {
  let inodes: Set<string>;
  try {
    inodes = new Set(socketInodes(readFileSync('/proc/net/unix', 'utf8'), path).map((i) => `socket:[${i}]`));
  } catch {
    return undefined;
  }
  if (inodes.size === 0) return undefined;
  const owners: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (inodes.has(target)) {
        owners.push(pid);
        break;
      }
    }
  }
  const comm = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  return owners.find((pid) => comm(pid) === 'podman') ?? owners[0];
}

const serviceLimits = new Map<string, string>();

/** The limits of the Podman service behind `socketPath`, or slim's own when that process cannot be found or read. */
export function podmanServiceLimitsText(socketPath: string | undefined): string {
  const cached = socketPath && serviceLimits.get(socketPath);
  if (cached) return cached;
  const owner = socketPath ? socketOwner(socketPath) : undefined;
  let text: string | undefined;
  if (owner !== undefined) {
    try {
      text = readFileSync(`/proc/${owner}/limits`, 'utf8');
    } catch {
      text = undefined;
    }
  }
  if (text && socketPath) serviceLimits.set(socketPath, text);
  return text ?? readFileSync('/proc/self/limits', 'utf8');
}
