import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environmentError, ExitCode, SlimError } from './errors.js';
import { processAlive, releaseDirectory } from './host-processes.js';

type Cleanup = () => Promise<void> | void;

const cleanups = new Set<() => Promise<void>>();
/** temporary directories and containers being created: an exit before one settles would leave it behind */
const creating = new Set<Promise<unknown>>();
let shuttingDown = false;

/**
 * Called when slim is interrupted: from now on nothing new may be made (work running alongside, a traced
 * run started while the image was read, would otherwise create a directory or container after its cleanup ran).
 */
export function beginShutdown(): void {
  shuttingDown = true;
}

/**
 * Something being made that its cleanup, registered before, may already have missed (a container whose
 * removal by name ran while the engine was still creating it): the cleanup waits for it to settle, and
 * `creation` itself must undo what it made when it finds slim shutting down (see refuseWhenShuttingDown).
 */
export function whileCreating<T>(creation: Promise<T>): Promise<T> {
  creating.add(creation);
  const done = () => void creating.delete(creation);
  creation.then(done, done);
  return creation;
}

export function isShuttingDown(): boolean {
  return shuttingDown;
}

/** Throws when slim is shutting down: for code about to make something that needs cleaning up. */
export function refuseWhenShuttingDown(): void {
  if (shuttingDown) throw new SlimError('interrupted', ExitCode.interrupted);
}

/** Registers work that must run on success, failure and Ctrl-C alike; returns a function that runs it once. */
export function onCleanup(cleanup: Cleanup): () => Promise<void> {
  // every caller awaits the same run, so an exit after Ctrl-C cannot cut a removal in progress short
  let running: Promise<void> | undefined;
  const once = (): Promise<void> =>
    (running ??= (async () => {
      cleanups.delete(once);
      await cleanup();
    })());
  cleanups.add(once);
  return once;
}

/** Runs every pending cleanup, newest first; failures are collected, not thrown, so all of them run. */
export async function runAllCleanups(): Promise<string[]> {
  const failures: string[] = [];
  // a cleanup registered while others run (work still in flight) runs too, and so does that of a
  // directory whose creation was under way
  while (cleanups.size > 0 || creating.size > 0) {
    await Promise.allSettled([...creating]);
    for (const cleanup of [...cleanups].reverse()) {
      try {
        await cleanup();
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
  }
  return failures;
}

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

function tempBase(): string {
  return process.env.SLIM_TMPDIR ?? tmpdir();
}

/** Temporary directories carry their owner's process ID, so a later run can remove those of a killed one. */
const TEMP_DIR_NAME = /^slim-[a-z-]+-pid(\d+)-[A-Za-z0-9]{6}$/;

/**
 * Removes the temporary directories of slim processes that no longer run (killed with SIGKILL, power
 * loss), after stopping what those started there and still runs (a bench's dockerd and registry).
 */
export async function sweepOrphanTempDirs(notice: (line: string) => void = () => undefined): Promise<number> {
  const base = tempBase();
  const names = await readdir(base).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const pid = Number(TEMP_DIR_NAME.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    const stopped = await releaseDirectory(join(base, name));
    if (stopped.length > 0) notice(`stopped ${stopped.join(', ')} left running by a killed slim (pid ${pid}) in ${join(base, name)}`);
    await rm(join(base, name), { recursive: true, force: true }).then(
      () => (removed += 1),
      () => undefined,
    );
  }
  return removed;
}

/** A temporary directory that is removed by `remove()` or, at the latest, by `runAllCleanups()`. */
export async function makeTempDir(purpose: string): Promise<TempDir> {
  const base = tempBase();
  let path: string;
  const created = mkdtemp(join(base, `slim-${purpose}-pid${process.pid}-`));
  creating.add(created);
  try {
    path = await created;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw environmentError(`cannot create a temporary directory in ${base} (${code})`, 'point SLIM_TMPDIR at a writable directory');
  } finally {
    // synchronously before the removal is registered: a cleanup waiting on the creation finds it next
    creating.delete(created);
  }
  const remove = onCleanup(() => rm(path, { recursive: true, force: true }));
  if (shuttingDown) {
    await remove();
    refuseWhenShuttingDown();
  }
  return { path, remove };
}

type InterruptHandler = () => void;
let interruptHandler: InterruptHandler | undefined;

/**
 * Lets a command treat Ctrl-C as "finish now" (slim record stops recording and writes its file)
 * instead of "abort". Returns a function that removes the handler.
 */
export function onInterrupt(handler: InterruptHandler): () => void {
  interruptHandler = handler;
  return () => {
    if (interruptHandler === handler) interruptHandler = undefined;
  };
}

/** Called by the CLI on SIGINT/SIGTERM: true when a command took the interrupt over. */
export function takeInterrupt(): boolean {
  if (!interruptHandler) return false;
  const handler = interruptHandler;
  interruptHandler = undefined;
  handler();
  return true;
}
