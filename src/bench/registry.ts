import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, onCleanup } from '../cleanup.js';
import { environmentError, SlimError } from '../errors.js';
import { logTail } from '../host-processes.js';
import { engineHost } from '../docker/engine.js';
import { freePort } from '../docker/function-container.js';
import { openImage, parseImageLocation } from '../image/open-image.js';
import { pushImage } from '../image/sinks/registry.js';

const exec = promisify(execFile);

export interface LayerDescriptor {
  digest: string;
  /** compressed size in the registry: what a pull downloads */
  size: number;
  mediaType?: string;
}

export interface PushedImage {
  /** ADDRESS/NAME:TAG, ready for `docker pull` */
  reference: string;
  layers: LayerDescriptor[];
  /** sum of the layers' compressed sizes */
  bytes: number;
}

export interface Registry {
  /** HOST:PORT */
  address: string;
  /** the registry's log, when slim started it */
  logFile?: string;
  /**
   * Copies an image into this registry: one of the main engine with skopeo (so the original is never
   * retagged), or an image file (docker-archive:, oci:) with slim's registry sink, its blobs as they are.
   */
  push(source: string, name: string, tag: string): Promise<PushedImage>;
  manifestLayers(name: string, reference: string): Promise<LayerDescriptor[]>;
  stop(): Promise<void>;
}

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

interface Manifest {
  layers?: LayerDescriptor[];
  manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[];
}

/** The layers of ADDRESS/NAME:REFERENCE over plain HTTP; an index resolves to its linux image for this machine's architecture. */
export async function fetchManifestLayers(address: string, name: string, reference: string): Promise<LayerDescriptor[]> {
  const url = `http://${address}/v2/${name}/manifests/${reference}`;
  const response = await fetch(url, { headers: { Accept: MANIFEST_TYPES }, signal: AbortSignal.timeout(20_000) });
  if (!response.ok) throw new SlimError(`GET ${url} answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
  const manifest = (await response.json()) as Manifest;
  if (manifest.manifests) {
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const entry = manifest.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
    if (!entry) throw new SlimError(`${address}/${name}:${reference} has no linux/${arch} image`);
    return fetchManifestLayers(address, name, entry.digest);
  }
  return (manifest.layers ?? []).map(({ digest, size, mediaType }) => ({ digest, size, ...(mediaType ? { mediaType } : {}) }));
}

/** REGISTRY/NAME:TAG or REGISTRY/NAME@DIGEST split for the registry API. */
export function splitReference(reference: string): { registry: string; name: string; ref: string } | undefined {
  const slash = reference.indexOf('/');
  if (slash < 0) return undefined;
  const registry = reference.slice(0, slash);
  const rest = reference.slice(slash + 1);
  const at = rest.indexOf('@');
  if (at >= 0) return { registry, name: rest.slice(0, at), ref: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(':');
  return colon >= 0 ? { registry, name: rest.slice(0, colon), ref: rest.slice(colon + 1) } : { registry, name: rest, ref: 'latest' };
}

/** The image config of ADDRESS/NAME:REFERENCE (plain HTTP), for the command a node runs. */
export async function fetchImageConfig(address: string, name: string, reference: string): Promise<{ config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }> {
  const url = `http://${address}/v2/${name}/manifests/${reference}`;
  const response = await fetch(url, { headers: { Accept: MANIFEST_TYPES }, signal: AbortSignal.timeout(20_000) });
  if (!response.ok) throw new SlimError(`GET ${url} answered ${response.status}`);
  const manifest = (await response.json()) as Manifest & { config?: { digest: string } };
  if (manifest.manifests) {
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const entry = manifest.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
    if (!entry) throw new SlimError(`${address}/${name}:${reference} has no linux/${arch} image`);
    return fetchImageConfig(address, name, entry.digest);
  }
  const blob = await fetch(`http://${address}/v2/${name}/blobs/${manifest.config?.digest}`, { signal: AbortSignal.timeout(20_000) });
  if (!blob.ok) throw new SlimError(`the config of ${address}/${name}:${reference} answered ${blob.status}`);
  return (await blob.json()) as { config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref(); // children run unref'd; without this, node could exit before the 'exit' event, mid-cleanup
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200;
  } catch {
    return false;
  }
}

/**
 * A throwaway CNCF distribution registry (`docker-registry serve`) on HOST:free port, storing into a temporary
 * directory. With `netns` it runs inside that namespace (host is then the shaped link's nsAddress).
 */
export async function startRegistry(options: { host?: string; netns?: string } = {}): Promise<Registry> {
  // inside a namespace 127.0.0.1 is the namespace's own loopback, out of the host's reach
  if (options.netns && !options.host) throw new SlimError('a registry inside a network namespace needs host: the namespace end of the link');
  const host = options.host ?? '127.0.0.1';
  const dir = await makeTempDir('registry');
  const logFile = join(dir.path, 'registry.log');
  const config = join(dir.path, 'config.yml');
  let child: ChildProcess | undefined;
  const stop = onCleanup(async () => {
    if (child) await terminate(child, 5000);
    await dir.remove();
  });

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const address = `${host}:${port}`;
    await writeFile(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: info',
        '  formatter: text',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir.path, 'storage')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${address}`,
        '',
      ].join('\n'),
    );
    const log = await open(logFile, 'w');
    const argv = options.netns ? ['ip', 'netns', 'exec', options.netns, 'docker-registry', 'serve', config] : ['docker-registry', 'serve', config];
    // its own process group, so Ctrl-C reaches slim, whose cleanup stops it in order
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log.fd, log.fd], detached: true });
    child = proc;
    proc.unref();
    await log.close();
    const spawnError = new Promise<Error>((resolve) => proc.once('error', resolve));
    const deadline = Date.now() + 20_000;
    let failure: string | undefined;
    for (;;) {
      if (await answers(`http://${address}/v2/`)) break;
      const err = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(r, 100, undefined))]);
      if (err) {
        await stop();
        throw environmentError(`cannot run ${argv[0]}: ${err.message}`, 'install it (apt-get install docker-registry)');
      }
      if (proc.exitCode !== null) {
        failure = `exited with code ${proc.exitCode}`;
        break;
      }
      if (Date.now() > deadline) {
        failure = 'did not answer GET /v2/ within 20 s';
        break;
      }
    }
    if (!failure) return makeRegistry(address, logFile, stop);
    await terminate(proc, 2000);
    const lastLines = await logTail(logFile, 20);
    // freePort only knows the port was free a moment ago; another process may have taken it since
    if (/address already in use/i.test(lastLines) && attempt < 5) continue;
    await stop();
    throw new SlimError(`the registry on ${address} ${failure}\n--- registry log ---\n${lastLines}`);
  }
}

/** A registry that already runs at HOST:PORT (plain HTTP); stop() leaves it running. */
export function connectRegistry(address: string): Registry {
  return makeRegistry(address, undefined, async () => undefined);
}

function makeRegistry(address: string, logFile: string | undefined, stop: () => Promise<void>): Registry {
  const manifestLayers = (name: string, reference: string) => fetchManifestLayers(address, name, reference);
  return {
    address,
    logFile,
    manifestLayers,
    stop,
    async push(source, name, tag) {
      const reference = `${address}/${name}:${tag}`;
      if ((await parseImageLocation(source)).kind !== 'daemon') {
        // a file (an OCI layout slim wrote with zstd, say): its blobs go up exactly as they are
        const image = await openImage(source);
        try {
          await pushImage(image, { host: address, repository: name, tag }, { tlsVerify: false });
        } finally {
          await image.close();
        }
        const layers = await manifestLayers(name, tag);
        return { reference, layers, bytes: layers.reduce((sum, l) => sum + l.size, 0) };
      }
      const daemonHost = ['--src-daemon-host', engineHost()];
      try {
        await exec('skopeo', ['copy', '--quiet', ...daemonHost, '--dest-tls-verify=false', `docker-daemon:${source}`, `docker://${reference}`], {
          maxBuffer: 16 * 1024 * 1024,
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: string };
        if (e.code === 'ENOENT') throw environmentError('skopeo is not installed', 'apt-get install skopeo');
        const log = logFile ? `\n--- registry log ---\n${await logTail(logFile, 10)}` : '';
        throw new SlimError(`cannot push ${source} to ${reference}: ${(e.stderr || e.message).trim()}${log}`);
      }
      const layers = await manifestLayers(name, tag);
      return { reference, layers, bytes: layers.reduce((sum, l) => sum + l.size, 0) };
    },
  };
}
