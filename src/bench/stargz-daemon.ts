import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, onCleanup } from '../cleanup.js';
import { environmentError, SlimError } from '../errors.js';
import { logTail, releaseDirectory, unmountUnder } from '../host-processes.js';
import { terminate } from './registry.js';

/** Where scripts/build-stargz-snapshotter.sh installs slim's daemon (stargz/snapshotter/main.go). */
const DEFAULT_BINARY = '/usr/local/lib/slim/slim-stargz-snapshotter';

async function binary(): Promise<string> {
  const path = process.env.SLIM_STARGZ_SNAPSHOTTER || DEFAULT_BINARY;
  try {
    await access(path, constants.X_OK);
    return path;
  } catch {
    throw environmentError(`slim's stargz snapshotter is not installed (${path})`, 'build it with scripts/build-stargz-snapshotter.sh (scripts/setup.sh does), or set SLIM_STARGZ_SNAPSHOTTER');
  }
}

/**
 * slim's lazy-pulling snapshotter daemon, serving containerd's snapshots API on a socket of ours. Its
 * root holds the FUSE mounts and the cache of fetched chunks, so `restart` (stop, empty the root,
 * start) gives the next pull nothing to reuse: a cold node again.
 */
export class StargzDaemon {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly socket: string,
    private readonly root: string,
    private readonly logFile: string,
    private readonly args: string[],
    private readonly executable: string,
    private readonly stopNow: () => Promise<void>,
  ) {}

  /** `plainHttpHosts`: registries the daemon reaches over plain HTTP besides localhost (a shaped-link registry). */
  static async start(plainHttpHosts: string[] = []): Promise<StargzDaemon> {
    const executable = await binary();
    const dir = await makeTempDir('bench-stargz');
    const socket = join(dir.path, 's.sock');
    const root = join(dir.path, 'root');
    const logFile = join(dir.path, 'stargz.log');
    let daemon: StargzDaemon | undefined;
    const stop = onCleanup(async () => {
      await daemon?.halt();
      // a shim (or daemon) still exiting names the directory on its command line: wait for it, then unmount
      await releaseDirectory(dir.path);
      await dir.remove();
    });
    const args = ['-address', socket, '-root', root, '-cleanup', ...(plainHttpHosts.length ? ['-plain-http', plainHttpHosts.join(',')] : [])];
    daemon = new StargzDaemon(dir.path, socket, root, logFile, args, executable, stop);
    try {
      await daemon.launch();
      return daemon;
    } catch (err) {
      await stop();
      throw err;
    }
  }

  private async launch(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // a socket left by a killed daemon would look like a listening one
    await rm(this.socket, { force: true });
    const log = await open(this.logFile, 'a');
    // its own process group: Ctrl-C reaches slim, whose cleanup stops it after containerd
    const proc = spawn(this.executable, this.args, { stdio: ['ignore', log.fd, log.fd], detached: true });
    this.child = proc;
    proc.unref();
    await log.close();
    const spawned = new Promise<Error>((resolve) => proc.once('error', resolve));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const listening = await stat(this.socket).then((s) => s.isSocket(), () => false);
      if (listening) return;
      const err = await Promise.race([spawned, new Promise<undefined>((r) => setTimeout(r, 50, undefined))]);
      if (err) throw environmentError(`cannot run the stargz snapshotter ${this.executable}: ${err.message}`);
      if (proc.exitCode !== null || Date.now() > deadline) {
        const why = proc.exitCode !== null ? `exited with code ${proc.exitCode}` : 'did not listen within 30 s';
        throw new SlimError(`the bench stargz snapshotter ${why}\n--- its log (${this.logFile}) ---\n${await logTail(this.logFile)}`);
      }
    }
  }

  /** SIGTERM: the daemon unmounts its FUSE layers and removes its snapshots before it exits. */
  private async halt(): Promise<void> {
    if (this.child) await terminate(this.child, 10_000);
    this.child = undefined;
  }

  /** Stops the daemon, empties its root (snapshots, fetched chunks) and starts it again on the same socket. */
  async restart(): Promise<void> {
    await this.halt();
    await unmountUnder(this.root);
    await rm(this.root, { recursive: true, force: true });
    await this.launch();
  }

  stop(): Promise<void> {
    return this.stopNow();
  }
}
