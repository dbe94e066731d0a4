import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, onCleanup } from '../cleanup.js';
import { effectiveArgv, freePort, functionEnvironment } from '../docker/function-container.js';
import { environmentError, SlimError } from '../errors.js';
import { logTail, releaseDirectory } from '../host-processes.js';
import { openEndpoint } from '../platform/endpoint.js';
import type { Recording } from '../recording/types.js';
import type { PullResult } from './bench-engine.js';
import { fetchImageConfig, fetchManifestLayers, splitReference, terminate } from './registry.js';

const exec = promisify(execFile);
const NAMESPACE = 'slim-bench';

export interface ContainerdNodeOptions {
  /**
   * A lazy-pulling snapshotter served by a proxy plugin (the stargz daemon): images are pulled with
   * `ctr-remote images rpull`, which leaves eStargz layers in the registry to be mounted, and run on it.
   */
  remoteSnapshotter?: { name: string; address: string };
}

/**
 * A throwaway containerd from Debian's package, with its own root, state directory and socket, as a
 * serverless node runs it: images are pulled with `ctr` (plain HTTP from the bench registry) and
 * functions run through `ctr run` with host networking, runc's state and FIFOs kept in our directory.
 */
export class ContainerdNode {
  private counter = 0;

  private constructor(
    readonly dir: string,
    readonly socket: string,
    readonly logFile: string,
    private readonly snapshotter: string,
    private readonly lazyPull: boolean,
    private readonly stopNow: () => Promise<void>,
  ) {}

  static async start(options: ContainerdNodeOptions = {}): Promise<ContainerdNode> {
    const dir = await makeTempDir('bench-containerd');
    const socket = join(dir.path, 'c.sock');
    const logFile = join(dir.path, 'containerd.log');
    let child: ChildProcess | undefined;
    const stop = onCleanup(async () => {
      if (child && child.exitCode === null) {
        // tasks first: a shim left running would keep the node's mounts busy
        const ctr = (...args: string[]) => exec('ctr', ['-a', socket, '-n', NAMESPACE, ...args]).catch(() => ({ stdout: '' }));
        for (const id of (await ctr('tasks', 'ls', '-q')).stdout.split(/\s+/).filter(Boolean)) {
          await ctr('tasks', 'kill', '-s', 'SIGKILL', id);
          await ctr('tasks', 'rm', '-f', id);
        }
        for (const id of (await ctr('containers', 'ls', '-q')).stdout.split(/\s+/).filter(Boolean)) await ctr('containers', 'rm', id);
        await terminate(child, 10_000);
      }
      // a shim (or daemon) still exiting names the directory on its command line: wait for it, then unmount
      await releaseDirectory(dir.path);
      await dir.remove();
    });
    try {
      const remote = options.remoteSnapshotter;
      const proxies = remote ? `[proxy_plugins.${remote.name}]\n  type = "snapshot"\n  address = ${JSON.stringify(remote.address)}` : '';
      await writeFile(
        join(dir.path, 'config.toml'),
        [
          'version = 2',
          `root = ${JSON.stringify(join(dir.path, 'root'))}`,
          `state = ${JSON.stringify(join(dir.path, 'state'))}`,
          'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
          '[grpc]',
          `  address = ${JSON.stringify(socket)}`,
          proxies,
          '',
        ].join('\n'),
      );
      await mkdir(join(dir.path, 'runc'));
      await mkdir(join(dir.path, 'fifo'));
      const log = await open(logFile, 'a');
      // its own process group, so Ctrl-C reaches slim, whose cleanup stops it after the tasks on it
      const proc = spawn('containerd', ['--config', join(dir.path, 'config.toml')], { stdio: ['ignore', log.fd, log.fd], detached: true });
      child = proc;
      proc.unref();
      await log.close();
      const spawned = new Promise<Error>((resolve) => proc.once('error', resolve));
      const deadline = Date.now() + 30_000;
      for (;;) {
        const answered = await exec('ctr', ['-a', socket, 'version'], { timeout: 5000 }).then(() => true, () => false);
        if (answered) break;
        const err = await Promise.race([spawned, new Promise<undefined>((r) => setTimeout(r, 100, undefined))]);
        if (err) throw environmentError(`cannot run containerd: ${err.message}`, 'apt-get install containerd (it comes with docker.io)');
        if (proc.exitCode !== null || Date.now() > deadline) {
          const why = proc.exitCode !== null ? `exited with code ${proc.exitCode}` : 'did not answer within 30 s';
          throw new SlimError(`the bench containerd ${why}\n--- containerd log (${logFile}) ---\n${await logTail(logFile)}`);
        }
      }
      return new ContainerdNode(dir.path, socket, logFile, options.remoteSnapshotter?.name ?? 'overlayfs', options.remoteSnapshotter !== undefined, stop);
    } catch (err) {
      await stop();
      throw err;
    }
  }

  /** `ctr` on this node; `ctr-remote` (ctr with rpull) takes the same flags. */
  private ctr(args: string[], timeoutMs = 600_000, client: 'ctr' | 'ctr-remote' = 'ctr') {
    return exec(client, ['-a', this.socket, '-n', NAMESPACE, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  }

  private async contentDigests(): Promise<Set<string>> {
    return new Set((await this.ctr(['content', 'ls', '-q'])).stdout.split(/\s+/).filter(Boolean));
  }

  /**
   * `ctr images pull` (or `ctr-remote images rpull` on a lazy node), timed; bytes are the layers that came
   * into the content store, so a lazily pulled eStargz layer, read later through FUSE, counts none.
   */
  async pull(reference: string): Promise<PullResult> {
    const before = await this.contentDigests();
    const began = performance.now();
    try {
      const args = ['images', this.lazyPull ? 'rpull' : 'pull', '--plain-http', '--snapshotter', this.snapshotter, reference];
      await this.ctr(args, undefined, this.lazyPull ? 'ctr-remote' : 'ctr');
    } catch (err) {
      const e = err as { stderr?: string; message: string; code?: string };
      if (e.code === 'ENOENT') throw environmentError('ctr-remote is not installed: the stargz node pulls with it', 'apt-get install stargz-snapshotter');
      throw new SlimError(`the bench containerd cannot pull ${reference}: ${(e.stderr || e.message).trim()}`);
    }
    const seconds = (performance.now() - began) / 1000;
    const after = await this.contentDigests();
    const parts = splitReference(reference);
    const layers = parts ? await fetchManifestLayers(parts.registry, parts.name, parts.ref).catch(() => []) : [];
    const fetched = layers.filter((l) => !before.has(l.digest) && after.has(l.digest));
    return { seconds, bytes: fetched.reduce((s, l) => s + l.size, 0), downloaded: fetched.map((l) => l.digest) };
  }

  /** Removes the image; containerd's garbage collector then drops the content and snapshots nothing else uses. */
  async removeImage(reference: string): Promise<void> {
    await this.ctr(['images', 'rm', '--sync', reference]).catch((err: { stderr?: string }) => {
      if (!/not found/i.test(err.stderr ?? '')) throw err;
    });
  }

  /**
   * Waits until containerd reaches its remote snapshotter again after the daemon restarted: until its
   * gRPC client redials (it backs off up to a few seconds), calls fail with the old connection's error.
   */
  async waitForSnapshotter(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const failure = await this.ctr(['snapshots', '--snapshotter', this.snapshotter, 'ls'], 5000).then(
        () => undefined,
        (err: { stderr?: string; message: string }) => (err.stderr || err.message).trim(),
      );
      if (failure === undefined) return;
      if (Date.now() > deadline) throw new SlimError(`the bench containerd cannot reach its ${this.snapshotter} snapshotter: ${failure}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Removes every image; the garbage collector drops their content and snapshots. */
  async removeAllImages(): Promise<void> {
    const images = (await this.ctr(['images', 'ls', '-q'])).stdout.split(/\s+/).filter(Boolean);
    if (images.length > 0) await this.ctr(['images', 'rm', '--sync', ...images]);
  }

  async removeEverything(): Promise<void> {
    await this.removeAllImages();
    const left = await this.contentDigests();
    if (left.size > 0) throw new SlimError(`the bench containerd still holds ${left.size} blob(s) after removing every image`);
  }

  /**
   * Milliseconds from `ctr run` to the first successful answer to the recording's first request; the task
   * and container are removed afterwards. The function listens on a free port of ours, passed through portEnv.
   */
  async timeFirstRequest(reference: string, recording: Recording): Promise<number> {
    const parts = splitReference(reference);
    const config = parts ? await fetchImageConfig(parts.registry, parts.name, parts.ref) : {};
    const argv = effectiveArgv(config.config ?? {}, recording);
    if (argv.length === 0) throw new SlimError(`${reference} has no ENTRYPOINT or CMD`);
    const port = recording.portEnv.length === 0 ? recording.port : await freePort();
    const endpoint = await openEndpoint(recording);
    const env = functionEnvironment(recording, port, endpoint, config.config?.Cmd ?? []);
    const id = `slim-${process.pid}-${++this.counter}`;
    const logFile = join(this.dir, `${id}.log`);
    const first = recording.requests[0]!;
    const startedAt = Date.now();
    const task = {
      port,
      exited: async () => {
        const tasks = (await this.ctr(['tasks', 'ls'])).stdout;
        return new RegExp(`^${id}\\s+\\d+\\s+STOPPED`, 'm').test(tasks) ? { code: -1 } : undefined;
      },
    };
    try {
      await this.ctr([
        'run', '-d', '--net-host', '--snapshotter', this.snapshotter,
        '--runc-root', join(this.dir, 'runc'), '--fifo-dir', join(this.dir, 'fifo'), '--cgroup', '', '--log-uri', `file://${logFile}`,
        ...env.flatMap((e) => ['--env', e]), reference, id, ...argv,
      ]);
      try {
        await endpoint.firstAnswer(first, task, startedAt + recording.readiness.timeoutMs);
      } catch (err) {
        if (err instanceof SlimError) throw new SlimError(`${reference}: ${err.message} (within ${recording.readiness.timeoutMs} ms)\n--- last 50 log lines ---\n${await logTail(logFile, 50)}`);
        throw err;
      }
      return Date.now() - startedAt;
    } catch (err) {
      if (err instanceof SlimError) throw err;
      const e = err as { stderr?: string; message: string };
      throw new SlimError(`the bench containerd cannot run ${reference}: ${(e.stderr || e.message).trim()}`);
    } finally {
      await this.ctr(['tasks', 'kill', '-s', 'SIGKILL', id]).catch(() => undefined);
      await this.ctr(['tasks', 'rm', '-f', id]).catch(() => undefined);
      await this.ctr(['containers', 'rm', id]).catch(() => undefined);
      await endpoint.close();
    }
  }

  stop(): Promise<void> {
    return this.stopNow();
  }
}
