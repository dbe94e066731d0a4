import { execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { makeTempDir, onCleanup } from '../cleanup.js';
import { environmentError, SlimError } from '../errors.js';
import { logTail, unmountUnder } from '../host-processes.js';
import { engineImageOps, type EngineImageOps } from './engine-image-ops.js';
import { startEngineDaemon } from './engine-daemon.js';
import { terminate } from './registry.js';

export type { PullResult } from './engine-image-ops.js';

const exec = promisify(execFile);

/** The containerd the main engine uses when it runs (dockerd 20.10 then picks it over a private one). */
const SYSTEM_CONTAINERD = '/run/containerd/containerd.sock';

export interface BenchEngine extends EngineImageOps {
  socket: string;
  /** its namespace in the system containerd it shares with the main engine (plugins use NAMESPACE-plugins) */
  containerdNamespace: string;
  docker: Docker;
  storageDriver: 'overlay2' | 'vfs';
  dataRoot: string;
  logFile: string;
  /** true when any image layer is stored in this engine */
  hasLayers(): Promise<boolean>;
  stop(): Promise<void>;
}

/** Chain IDs of the image's layers: the names of the directories dockerd's layer store keeps them under. */
function chainIds(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diff of diffIds) {
    const previous = chain.at(-1);
    chain.push(previous ? `sha256:${createHash('sha256').update(`${previous} ${diff}`).digest('hex')}` : diff);
  }
  return chain;
}

/**
 * dockerd 20.10 keeps pulled manifests and configs in the shared containerd, under leases in its namespace, and
 * leaves them there when it stops; containerd deletes only an empty namespace. Best effort: ctr may be missing.
 */
export async function removeContainerdNamespace(ns: string): Promise<void> {
  const ctr = (...args: string[]) => exec('ctr', ['-n', ns, ...args]);
  const list = async (kind: string) => (await ctr(kind, 'ls', '-q').catch(() => ({ stdout: '' }))).stdout.split(/\s+/).filter(Boolean);
  for (const id of await list('containers')) {
    await ctr('tasks', 'rm', '-f', id).catch(() => undefined);
    await ctr('containers', 'rm', id).catch(() => undefined);
  }
  for (const kind of ['images', 'leases', 'content']) {
    const ids = await list(kind);
    if (ids.length > 0) await ctr(kind, 'rm', ...ids).catch(() => undefined);
  }
  await exec('ctr', ['namespaces', 'rm', ns]).catch(() => undefined);
}

/**
 * A throwaway second dockerd with its own data root, so pulls through it start with no layer of the image,
 * while the user's engine and its images stay untouched. It shares the system containerd under its own namespace.
 */
export async function startBenchEngine(options: { seccompProfile?: string } = {}): Promise<BenchEngine> {
  const dir = await makeTempDir('bench-engine');
  const socket = join(dir.path, 'docker.sock');
  if (socket.length > 100) {
    await dir.remove();
    throw environmentError(`temporary directory path too long for a unix socket: ${socket}`, 'point SLIM_TMPDIR at a shorter path');
  }
  const dataRoot = join(dir.path, 'data');
  const logFile = join(dir.path, 'dockerd.log');
  const namespace = `slim-bench-${process.pid}-${randomBytes(3).toString('hex')}`;
  await mkdir(dataRoot);
  // an empty config, so the main engine's /etc/docker/daemon.json does not also apply (and clash) here
  await writeFile(join(dir.path, 'daemon.json'), '{}\n');

  let child: ChildProcess | undefined;
  let docker: Docker | undefined;
  const stop = onCleanup(async () => {
    // a container left running would outlive dockerd in the shared containerd, with its mounts under our dir
    if (docker && child?.exitCode === null) {
      const containers = await docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(containers.map((c) => docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    }
    if (child) await terminate(child, 10_000);
    await unmountUnder(dir.path);
    for (const ns of [namespace, `${namespace}-plugins`]) await removeContainerdNamespace(ns);
    await dir.remove();
  });

  const start = async (driver: 'overlay2' | 'vfs'): Promise<string | undefined> => {
    const args = [
      '--config-file', join(dir.path, 'daemon.json'),
      '--data-root', dataRoot,
      '--exec-root', join(dir.path, 'exec'),
      '--pidfile', join(dir.path, 'docker.pid'),
      '-H', `unix://${socket}`,
      // without a system containerd, dockerd starts a private one under the exec root: isolated as well
      ...(existsSync(SYSTEM_CONTAINERD) ? ['--containerd', SYSTEM_CONTAINERD] : []),
      '--containerd-namespace', namespace,
      '--containerd-plugins-namespace', `${namespace}-plugins`,
      '--bridge', 'none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
      '--insecure-registry', '198.18.0.0/15',
      '--storage-driver', driver,
      // the default profile for its containers (a path), as an engine configured with "seccomp-profile" has
      ...(options.seccompProfile ? ['--seccomp-profile', options.seccompProfile] : []),
      '--shutdown-timeout', '2',
    ];
    return startEngineDaemon({
      command: 'dockerd',
      args,
      logFile,
      socket,
      spawned: (proc) => (child = proc),
      notInstalled: { message: 'dockerd is not installed', hint: 'apt-get install docker.io' },
    }).catch(async (err: unknown) => {
      await stop();
      throw err;
    });
  };

  let storageDriver: 'overlay2' | 'vfs' = 'overlay2';
  let failure = await start(storageDriver);
  // overlay2 cannot work on some data roots (on overlayfs itself, say): dockerd then exits naming the driver
  if (failure?.startsWith('exited') && /overlay|graphdriver|driver not supported|backing file system/i.test(await logTail(logFile, 5))) {
    storageDriver = 'vfs';
    failure = await start(storageDriver);
  }
  if (failure) {
    const lastLines = await logTail(logFile);
    await stop();
    throw new SlimError(`the bench Docker engine ${failure}\n--- dockerd log (${logFile}) ---\n${lastLines}`);
  }

  docker = new Docker({ socketPath: socket });
  const layerDb = join(dataRoot, 'image', storageDriver, 'layerdb', 'sha256');
  const storedLayers = () => readdir(layerDb).catch(() => [] as string[]);

  const ops = engineImageOps(docker, {
    left: async (diffIds) => {
      const stored = new Set(await storedLayers());
      return chainIds(diffIds).filter((id) => stored.has(id.replace('sha256:', '')));
    },
    count: async () => (await storedLayers()).length,
  });

  return {
    socket,
    containerdNamespace: namespace,
    docker,
    storageDriver,
    dataRoot,
    logFile,
    ...ops,
    hasLayers: async () => (await storedLayers()).length > 0,
    stop,
  };
}
