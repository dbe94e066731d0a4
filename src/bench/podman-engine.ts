import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { makeTempDir, onCleanup } from '../cleanup.js';
import { environmentError, SlimError } from '../errors.js';
import { logTail, unmountUnder } from '../host-processes.js';
import { engineImageOps, type EngineImageOps } from './engine-image-ops.js';
import { startEngineDaemon } from './engine-daemon.js';
import { terminate } from './registry.js';

export interface BenchPodman extends EngineImageOps {
  socket: string;
  docker: Docker;
  storageDriver: 'overlay' | 'vfs';
  version: string;
  stop(): Promise<void>;
}

/** TOML basic strings: the paths are slim's own temporary directories, but quote them properly anyway. */
const toml = (value: string) => JSON.stringify(value);

/**
 * The three files that make a Podman of its own: containers.conf (file locks and state in our
 * directory, so it shares nothing with the host's Podman, not even its shared-memory locks),
 * storage.conf (an empty image store), and registries.conf (the bench registry over plain HTTP).
 */
export function podmanConfigFiles(dir: string, driver: 'overlay' | 'vfs', insecureRegistries: string[], seccompProfile?: string): Record<string, string> {
  return {
    'containers.conf': [
      // the default profile for its containers, as a host configured with seccomp_profile has
      ...(seccompProfile ? ['[containers]', `seccomp_profile = ${toml(seccompProfile)}`] : []),
      '[engine]',
      'lock_type = "file"',
      'events_logger = "file"',
      'cgroup_manager = "cgroupfs"',
      `tmp_dir = ${toml(join(dir, 'tmp'))}`,
      `static_dir = ${toml(join(dir, 'storage', 'libpod'))}`,
      `volume_path = ${toml(join(dir, 'volumes'))}`,
      '[network]',
      `network_config_dir = ${toml(join(dir, 'networks'))}`,
      '',
    ].join('\n'),
    'storage.conf': ['[storage]', `driver = ${toml(driver)}`, `graphroot = ${toml(join(dir, 'storage'))}`, `runroot = ${toml(join(dir, 'run'))}`, ''].join('\n'),
    'registries.conf': [
      'unqualified-search-registries = []',
      ...insecureRegistries.flatMap((location) => ['', '[[registry]]', `location = ${toml(location)}`, 'insecure = true']),
      '',
    ].join('\n'),
  };
}

/**
 * A throwaway `podman system service` with its own image store, configuration and locks, so pulls
 * through it start with no layer of the image while the host's Podman and its images stay untouched.
 * It trusts `registry` over plain HTTP, as the bench's registry is.
 */
export async function startBenchPodman(registry: string, options: { seccompProfile?: string } = {}): Promise<BenchPodman> {
  const dir = await makeTempDir('bench-podman');
  const socket = join(dir.path, 'podman.sock');
  if (socket.length > 100) {
    await dir.remove();
    throw environmentError(`temporary directory path too long for a unix socket: ${socket}`, 'point SLIM_TMPDIR at a shorter path');
  }
  const logFile = join(dir.path, 'podman.log');
  let child: ChildProcess | undefined;
  let docker: Docker | undefined;
  const stop = onCleanup(async () => {
    // conmon keeps a container's process alive after the service: remove them through it first
    if (docker && child?.exitCode === null) {
      const containers = await docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(containers.map((c) => docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    }
    if (child) await terminate(child, 10_000);
    await unmountUnder(dir.path);
    await dir.remove();
  });

  const start = async (driver: 'overlay' | 'vfs'): Promise<string | undefined> => {
    // a retry on vfs starts from nothing: libpod's database remembers the driver the first attempt chose
    for (const sub of ['storage', 'run', 'tmp', 'volumes', 'networks']) {
      await rm(join(dir.path, sub), { recursive: true, force: true });
      await mkdir(join(dir.path, sub), { recursive: true });
    }
    const files = podmanConfigFiles(dir.path, driver, [registry], options.seccompProfile);
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir.path, name), text);
    return startEngineDaemon({
      command: 'podman',
      args: ['system', 'service', '--time=0', `unix://${socket}`],
      env: {
        ...process.env,
        CONTAINERS_CONF: join(dir.path, 'containers.conf'),
        CONTAINERS_STORAGE_CONF: join(dir.path, 'storage.conf'),
        CONTAINERS_REGISTRIES_CONF: join(dir.path, 'registries.conf'),
      },
      logFile,
      socket,
      spawned: (proc) => (child = proc),
      notInstalled: { message: 'podman is not installed', hint: 'apt-get install podman (or dnf install podman), or bench on --node docker or containerd' },
    }).catch(async (err: unknown) => {
      await stop();
      throw err;
    });
  };

  let storageDriver: 'overlay' | 'vfs' = 'overlay';
  let failure = await start(storageDriver);
  if (failure?.startsWith('exited') && /overlay|driver not supported|backing file system/i.test(await logTail(logFile, 5))) {
    storageDriver = 'vfs';
    failure = await start(storageDriver);
  }
  if (failure) {
    const lastLines = await logTail(logFile);
    await stop();
    throw new SlimError(`the bench's Podman service ${failure}\n--- podman log (${logFile}) ---\n${lastLines}`);
  }

  docker = new Docker({ socketPath: socket });
  const layersFile = join(dir.path, 'storage', `${storageDriver}-layers`, 'layers.json');
  const storedLayers = async () => {
    const text = await readFile(layersFile, 'utf8').catch(() => '[]');
    return JSON.parse(text) as Array<{ id: string; 'diff-digest'?: string }>;
  };
  const ops = engineImageOps(docker, {
    left: async (diffIds) => {
      const stored = new Set((await storedLayers()).map((l) => l['diff-digest']));
      return diffIds.filter((d) => stored.has(d));
    },
    count: async () => (await storedLayers()).length,
  });
  const version = await docker.version().then((v) => v.Version, () => '?');
  return { socket, docker, storageDriver, version, ...ops, stop };
}
