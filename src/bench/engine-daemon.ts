import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { request } from 'node:http';
import { environmentError } from '../errors.js';
import { terminate } from './registry.js';

/** True when an Engine API (dockerd or Podman's service) answers /_ping on the unix socket. */
export function pingSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export interface EngineDaemonSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** its stdout and stderr are appended here */
  logFile: string;
  socket: string;
  /** called with the child as soon as it exists, so the caller's cleanup can stop it */
  spawned(child: ChildProcess): void;
  /** what to say when the command is not installed */
  notInstalled: { message: string; hint: string };
}

/**
 * Starts a bench engine's daemon in its own process group (so Ctrl-C reaches slim, whose cleanup stops
 * it after whatever uses it) and waits up to 30 s for its API. Resolves undefined once it answers, or
 * with why it did not (it exited, or never answered: then it is stopped); a missing command rejects.
 */
export async function startEngineDaemon(spec: EngineDaemonSpec): Promise<string | undefined> {
  const log = await open(spec.logFile, 'a');
  const proc = spawn(spec.command, spec.args, { env: spec.env, stdio: ['ignore', log.fd, log.fd], detached: true });
  spec.spawned(proc);
  proc.unref();
  // before any await: a missing binary's ENOENT comes as an 'error' event on the next tick
  let spawnError: Error | undefined;
  proc.once('error', (err) => (spawnError = err));
  await log.close();
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (await pingSocket(spec.socket)) return undefined;
    if (spawnError) {
      if ((spawnError as NodeJS.ErrnoException).code === 'ENOENT') throw environmentError(spec.notInstalled.message, spec.notInstalled.hint);
      throw spawnError;
    }
    if (proc.exitCode !== null) return `exited with code ${proc.exitCode}`;
    if (Date.now() > deadline) {
      await terminate(proc, 10_000);
      return 'did not answer /_ping within 30 s';
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
