import { randomBytes } from 'node:crypto';
import { access, constants, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { inputError, writeFailure } from '../errors.js';

/**
 * A Docker seccomp profile that allows the syscalls a traced run made, plus a small baseline, and
 * denies everything else with EPERM.
 *
 * The trace starts at the entrypoint's execve, so it misses what the runtime does in the container
 * between loading the filter and that execve, and it ends when strace detaches at `docker stop`, so it
 * misses how the function exits. The baseline covers those, and nothing else. It was found by running
 * containers under a profile with `defaultAction: SCMP_ACT_LOG` that allowed only the traced names and
 * reading the kernel's audit lines (type=1326) for what else was called: a static program that only
 * calls exit_group (so every other logged call is runc's), with and without `--user 1000:1000`,
 * `--cap-drop ALL` and `--read-only`, and the node-express fixture serving requests and stopping.
 */
export const BASELINE_GROUPS: ReadonlyArray<{ why: string; names: readonly string[] }> = [
  {
    // measured with runc 1.1.5 (Docker 20.10): it loads the filter before dropping privileges, so
    // everything after that runs under it
    why: 'runc init, after loading the filter: it marks the fds it does not pass on close-on-exec (listing /proc/self/fd)',
    names: ['openat', 'fstatfs', 'getdents64', 'fcntl', 'close', 'fstat'],
  },
  {
    why: 'runc init: dropping to the image\'s user and capabilities (fchown gives a non-root user its stdio)',
    names: ['capget', 'capset', 'prctl', 'setgroups', 'setgid', 'setuid', 'fchown'],
  },
  {
    why: 'runc init: the working directory, finding the entrypoint on PATH, and telling the runtime through its exec fifo',
    names: ['chdir', 'getcwd', 'faccessat2', 'newfstatat', 'write', 'read', 'epoll_ctl', 'getpid', 'getppid', 'execve'],
  },
  {
    // a failed futex wake is fatal in the Go runtime runc init is written in
    why: 'runc init: its Go runtime waking and parking threads',
    names: ['futex'],
  },
  {
    // the trace ends when strace detaches at `docker stop`, before the function exits
    why: 'exiting: a thread (exit) and the process (exit_group)',
    names: ['exit', 'exit_group'],
  },
  {
    // found when a media-transcode profile failed one build in a few: Python's subprocess wait sleeps
    // only when ffmpeg has not exited by its first check, so one traced run had no clock_nanosleep
    why: 'timing: what a program calls or not depending on how fast things happen — sleeping in a polling loop (nanosleep, clock_nanosleep), spinning on a lock, as threads do while the process shuts down (sched_yield), an allocator handing memory back (madvise)',
    names: ['nanosleep', 'clock_nanosleep', 'sched_yield', 'madvise'],
  },
  {
    why: 'signals: returning from any handler (the SIGTERM of `docker stop` too), and the kernel restarting a sleep a handler interrupted',
    names: ['rt_sigreturn', 'restart_syscall'],
  },
  {
    // no syscall where the trace ran, so never in it; the profile may be used on other hosts
    why: 'vDSO functions, which become real syscalls on hosts whose clock source has no vDSO support',
    names: ['clock_gettime', 'clock_getres', 'gettimeofday', 'time', 'getcpu'],
  },
];

export const BASELINE_SYSCALLS: readonly string[] = [...new Set(BASELINE_GROUPS.flatMap((g) => g.names))].sort();

/**
 * What releases a resource a traced call took. The trace ends before the function exits, so its
 * teardown is never seen; a run that took the resource is allowed to give it back. Found when V8,
 * which allocates a memory protection key where the CPU has them, aborted at exit on pkey_free
 * (`Check failed: 0 == pkey_free(key)`) under node-express's profile on a host with PKU.
 */
export const RELEASED_BY: Readonly<Record<string, readonly string[]>> = {
  pkey_alloc: ['pkey_free'],
  timer_create: ['timer_delete'],
  inotify_add_watch: ['inotify_rm_watch'],
  shmat: ['shmdt'],
  io_setup: ['io_destroy'],
  mq_open: ['mq_unlink'],
};

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  /** EPERM. Docker 20.10 ignores the field and returns EPERM anyway; later versions honour it. */
  defaultErrnoRet: 1;
  archMap: Array<{ architecture: string; subArchitectures: string[] }>;
  syscalls: Array<{ names: string[]; action: 'SCMP_ACT_ALLOW' }>;
}

export interface SeccompResult {
  profile: SeccompProfile;
  /** every name the profile allows, sorted */
  names: string[];
  /** names seen in the trace that are not syscall names the profile can carry (`syscall_0x1c4`: a number strace does not know) */
  unknown: string[];
  warnings: string[];
}

/** A name Docker and libseccomp can resolve: what strace prints for a syscall it knows. */
function isSyscallName(name: string): boolean {
  return /^[a-z_][a-z0-9_]*$/.test(name) && !/^syscall_(?:0x)?[0-9a-f]+$/.test(name);
}

/**
 * The profile for the syscalls a run made: deterministic (the same names in any order give the same
 * profile), x86-64 with its 32-bit and x32 ABIs (a name a sub-architecture lacks is skipped by the
 * runtime), every other syscall answered with EPERM.
 */
export function seccompProfile(seen: Iterable<string>): SeccompResult {
  const names = new Set<string>(BASELINE_SYSCALLS);
  const unknown = new Set<string>();
  for (const name of seen) {
    if (isSyscallName(name)) names.add(name);
    else unknown.add(name);
  }
  for (const name of [...names]) for (const release of RELEASED_BY[name] ?? []) names.add(release);
  const sorted = [...names].sort();
  const profile: SeccompProfile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
    syscalls: [{ names: sorted, action: 'SCMP_ACT_ALLOW' }],
  };
  const unknownSorted = [...unknown].sort();
  const warnings = unknownSorted.length
    ? [`seccomp: the trace shows syscalls strace could not name (${unknownSorted.join(', ')}); the profile cannot allow them`]
    : [];
  return { profile, names: sorted, unknown: unknownSorted, warnings };
}

export function renderSeccompProfile(profile: SeccompProfile): string {
  return `${JSON.stringify(profile, null, 2)}\n`;
}

// ---- files (the parts above are pure) ----

/** Fails early, before a long trace, when the profile could not be written to `file`. */
export async function checkSeccompDestination(file: string): Promise<void> {
  const what = `the seccomp profile ${file}`;
  if ((await stat(file).catch(() => undefined))?.isDirectory()) throw writeFailure(Object.assign(new Error('EISDIR'), { code: 'EISDIR' }), what);
  await access(dirname(file) || '.', constants.W_OK).catch((err: unknown) => {
    throw writeFailure(err, what);
  });
}

/** Writes the profile atomically: a temporary file beside it, renamed over it. */
export async function writeSeccompFile(file: string, text: string): Promise<void> {
  const temporary = join(dirname(file) || '.', `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, text, { mode: 0o644 });
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw writeFailure(err, `the seccomp profile ${file}`);
  }
}

/**
 * Reads a profile for `--seccomp` and returns it as compact JSON: through the Engine API the value of
 * `seccomp=` is the profile's text, not a path (the docker CLI reads the file itself).
 */
export async function readSeccompFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read the seccomp profile ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw inputError(`the seccomp profile ${file} is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { defaultAction?: unknown }).defaultAction !== 'string') {
    throw inputError(`the seccomp profile ${file} has no defaultAction`, 'give a Docker seccomp profile (as written by slim build --seccomp-out)');
  }
  return JSON.stringify(parsed);
}
