import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** True while a process with this ID exists (on this host). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/**
 * Processes whose command line names `dir` or a path in it: what slim started with that directory
 * (a bench's dockerd with its data root there, a registry with its config there).
 */
export async function processesUsing(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    // `--data-root=/tmp/x` as well as `--data-root /tmp/x`, and a socket address `unix:///tmp/x/podman.sock`
    const paths = cmdline.split('\0').map((arg) => arg.slice(arg.indexOf('=') + 1).replace(/^unix:\/\//, ''));
    if (paths.some((path) => within(path, dir))) pids.push(pid);
  }
  return pids;
}

/** SIGTERM, then SIGKILL for whatever still runs after `graceMs`; resolves when all are gone. */
export async function stopProcesses(pids: number[], graceMs: number): Promise<void> {
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let killed = false;
  for (;;) {
    const running = pids.filter(processAlive);
    if (running.length === 0) return;
    if (!killed && Date.now() > deadline) {
      for (const pid of running) signal(pid, 'SIGKILL');
      killed = true;
    }
    if (Date.now() > deadline + 5000) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Mount points at or under `dir`, deepest first (the order to unmount them in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => within(p, dir));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await exec('umount', ['-R', point]).catch(() => exec('umount', ['-l', point]).catch(() => undefined));
  }
}

/**
 * Makes a directory a killed slim process left behind safe to delete: stops what it started there
 * (its processes outlive it) and unmounts what they mounted, so removing it deletes no mounted file system.
 * Returns the names of the processes it stopped.
 */
/** When a process started, in clock ticks since boot: field 22 of its /proc/PID/stat; Infinity for ''. */
export function statStartTime(stat: string): number {
  // the command name (field 2) is in parentheses and may hold spaces and ')': count fields after the last ')'
  const close = stat.lastIndexOf(')');
  const ticks = close === -1 ? NaN : Number(stat.slice(close + 2).split(' ')[19]);
  return Number.isFinite(ticks) ? ticks : Infinity;
}

async function startTime(pid: number): Promise<number> {
  return statStartTime(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''));
}

export async function releaseDirectory(dir: string, graceMs = 10_000): Promise<string[]> {
  // in the order they started (a service before the children it spawned), not by pid, which wraps around
  const found = await processesUsing(dir);
  const started = new Map(await Promise.all(found.map(async (pid) => [pid, await startTime(pid)] as const)));
  const pids = [...found].sort((a, b) => started.get(a)! - started.get(b)! || a - b);
  const names = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').then((c) => c.trim(), () => String(pid))));
  if (pids.length > 0) await stopProcesses(pids, graceMs);
  await unmountUnder(dir);
  return names;
}

/** The last lines of a daemon's log file, for an error that says why it stopped ('' when unreadable). */
export async function logTail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
