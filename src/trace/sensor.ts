import { execFile } from 'node:child_process';
import { access, constants, realpath } from 'node:fs/promises';
import { basename, delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { environmentError } from '../errors.js';

const run = promisify(execFile);

export const SENSOR_DIR = '/.slim-sensor';
export const SENSOR_OUT = '/.slim-sensor-out';
export const TRACE_FILE = 'trace';

/** The syscalls traced: file access, process tree, sockets (for the timeline), fd bookkeeping, mmaps. */
export const TRACED_SYSCALLS = [
  '%file',
  '%process',
  '%network',
  'mmap',
  'getdents',
  'getdents64',
  'fchdir',
  'close',
  'dup',
  'dup2',
  'dup3',
  'fcntl',
  'write',
  'writev',
  'sendfile',
].join(',');

/**
 * With a seccomp profile asked for, every syscall is traced: the profile allows exactly what the run
 * made. ptrace stops the tracee on every syscall anyway (strace's filter only hides lines), so the cost
 * is the size of the trace; the file-access parsing ignores the syscalls it has no rule for.
 */
export const ALL_SYSCALLS = 'all';

export interface SensorOptions {
  /** trace every syscall, not only TRACED_SYSCALLS (for `--seccomp-out`) */
  allSyscalls?: boolean;
}

/**
 * The host's strace and what it needs to run inside any x86-64 container: its shared libraries and
 * ELF interpreter, mounted read-only, so the image is traced without being changed or needing a libc.
 */
export interface Sensor {
  strace: string;
  interpreter?: string;
  libraries: Array<{ name: string; path: string }>;
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findStrace(): Promise<string> {
  const configured = process.env.SLIM_STRACE;
  if (configured) {
    if (await executable(configured)) return configured;
    throw environmentError(`SLIM_STRACE=${configured} is not an executable file`);
  }
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, 'strace');
    if (dir && (await executable(candidate))) return candidate;
  }
  throw environmentError(
    'strace not found: slim traces the function with the host\'s strace, mounted into the container',
    'install it (apt-get install strace, dnf install strace, apk add strace) or set SLIM_STRACE=/path/to/strace',
  );
}

/** Reads `ldd` output: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and the interpreter line. */
export function parseLdd(output: string): { interpreter?: string; libraries: Array<{ name: string; path: string }> } {
  const libraries: Array<{ name: string; path: string }> = [];
  let interpreter: string | undefined;
  for (const line of output.split('\n')) {
    const arrow = /^\s*(\S+)\s+=>\s+(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (arrow) {
      libraries.push({ name: arrow[1]!, path: arrow[2]! });
      continue;
    }
    const direct = /^\s*(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (direct) interpreter = direct[1];
  }
  return { interpreter, libraries };
}

export async function findSensor(): Promise<Sensor> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw environmentError(`tracing needs a Linux x86-64 host (this is ${process.platform}/${process.arch})`);
  }
  const strace = await realpath(await findStrace());
  let output = '';
  try {
    output = (await run('ldd', [strace])).stdout;
  } catch (err) {
    const text = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    // a statically linked strace needs nothing else
    if (/not a dynamic executable|statically linked/.test(text)) return { strace, libraries: [] };
    throw environmentError(`cannot list the libraries of ${strace}: ldd failed (${(err as Error).message.split('\n')[0]})`);
  }
  const parsed = parseLdd(output);
  const libraries = await Promise.all(parsed.libraries.map(async (l) => ({ name: l.name, path: await realpath(l.path) })));
  return { strace, interpreter: parsed.interpreter ? await realpath(parsed.interpreter) : undefined, libraries };
}

/** Bind mounts that put the sensor into a container, and the output directory for its trace. */
export function sensorBinds(sensor: Sensor, outputDir: string): string[] {
  return [
    `${sensor.strace}:${SENSOR_DIR}/strace:ro`,
    ...(sensor.interpreter ? [`${sensor.interpreter}:${SENSOR_DIR}/ld.so:ro`] : []),
    ...sensor.libraries.map((l) => `${l.path}:${SENSOR_DIR}/lib/${basename(l.name)}:ro`),
    `${outputDir}:${SENSOR_OUT}`,
  ];
}

/**
 * The container's new entrypoint: strace started through its own ELF interpreter, following forks and
 * execs of the original command. strace is the container's PID 1, which the kernel only signals through
 * an installed handler: `-I 2` installs one, so `docker stop`'s SIGTERM makes strace flush the trace,
 * detach and exit at once (ending the container) instead of waiting for the SIGKILL.
 */
export function sensorCommand(sensor: Sensor, argv: string[], options: SensorOptions = {}): string[] {
  const strace = sensor.interpreter
    ? [`${SENSOR_DIR}/ld.so`, '--library-path', `${SENSOR_DIR}/lib`, `${SENSOR_DIR}/strace`]
    : [`${SENSOR_DIR}/strace`];
  return [...strace, '-f', '-ttt', '-qq', '-y', '-I', '2', '-s', '256', '-e', `trace=${options.allSyscalls ? ALL_SYSCALLS : TRACED_SYSCALLS}`, '-o', `${SENSOR_OUT}/${TRACE_FILE}`, '--', ...argv];
}
