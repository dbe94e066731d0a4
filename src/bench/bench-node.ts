import { execFile } from 'node:child_process';
import type Docker from 'dockerode';
import { engineKind, requireEngine } from '../docker/engine.js';
import type { Recording } from '../recording/types.js';
import { SlimError } from '../errors.js';
import { startBenchEngine, type BenchEngine, type PullResult } from './bench-engine.js';
import { sweepBenchOrphans } from './bench-orphans.js';
import { startBenchPodman } from './podman-engine.js';
import { ContainerdNode, type ContainerdNodeOptions } from './containerd-node.js';
import { StargzDaemon } from './stargz-daemon.js';
import { timeFirstRequest } from './first-request.js';
import { connectRegistry, fetchManifestLayers, splitReference, startRegistry, type Registry } from './registry.js';
import { createShapedLink, type ShapedLink } from './shaped-link.js';

export const NODE_KINDS = ['docker', 'podman', 'containerd', 'stargz'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/** The serverless node the bench plays: it pulls images and starts functions, and holds nothing else. */
export interface BenchNode {
  kind: NodeKind;
  /** what it runs, for the report (e.g. "dockerd 20.10.24, overlay2") */
  description: string;
  pull(reference: string): Promise<PullResult>;
  /** removes the image and every layer only it uses (the stargz node: every image), so its next pull is cold */
  removeImageCompletely(reference: string): Promise<void>;
  removeEverything(): Promise<void>;
  /** milliseconds from creating the function's container to its first successful answer */
  timeFirstRequest(reference: string, recording: Recording, purpose: string): Promise<number>;
  stop(): Promise<void>;
}

async function dockerNode(engine: BenchEngine): Promise<BenchNode> {
  const version = await (engine.docker as Docker).version().then((v) => v.Version, () => '?');
  return {
    kind: 'docker',
    description: `dockerd ${version}, ${engine.storageDriver}`,
    async pull(reference) {
      // dockerd 20.10 takes a zstd blob for a plain tar and fails with "invalid tar header": say why first
      const parts = splitReference(reference);
      const layers = parts ? await fetchManifestLayers(parts.registry, parts.name, parts.ref).catch(() => []) : [];
      if (layers.some((l) => l.mediaType?.endsWith('+zstd'))) {
        throw new SlimError(`${reference} has zstd layers, and dockerd ${version} cannot pull them`, 1, 'bench the image with --node containerd, or build it with --compression gzip');
      }
      return engine.pull(reference);
    },
    removeImageCompletely: (reference) => engine.removeImageCompletely(reference),
    removeEverything: () => engine.removeEverything(),
    timeFirstRequest: (reference, recording, purpose) => timeFirstRequest(engine.docker, reference, recording, purpose),
    stop: () => engine.stop(),
  };
}

/** A throwaway Podman service, the node of a machine (a GitLab or Fedora runner, say) that has Podman and no dockerd. */
async function podmanNode(registry: Registry): Promise<BenchNode> {
  const podman = await startBenchPodman(registry.address);
  return {
    kind: 'podman',
    description: `podman ${podman.version}, ${podman.storageDriver}`,
    pull: (reference) => podman.pull(reference),
    removeImageCompletely: (reference) => podman.removeImageCompletely(reference),
    removeEverything: () => podman.removeEverything(),
    timeFirstRequest: (reference, recording, purpose) => timeFirstRequest(podman.docker, reference, recording, purpose),
    stop: () => podman.stop(),
  };
}

function containerdVersion(): Promise<string> {
  return new Promise((resolve) => execFile('containerd', ['--version'], (err, stdout) => resolve(err ? '?' : (stdout.split(' ')[2] ?? '?'))));
}

async function containerdBenchNode(options: ContainerdNodeOptions = {}): Promise<{ node: ContainerdNode; bench: BenchNode }> {
  const node = await ContainerdNode.start(options);
  const version = await containerdVersion();
  return {
    node,
    bench: {
      kind: 'containerd',
      description: `containerd ${version}, overlayfs`,
      pull: (reference) => node.pull(reference),
      removeImageCompletely: (reference) => node.removeImage(reference),
      removeEverything: () => node.removeEverything(),
      timeFirstRequest: (reference, recording) => node.timeFirstRequest(reference, recording),
      stop: () => node.stop(),
    },
  };
}

/**
 * containerd with slim's stargz snapshotter as a proxy plugin: eStargz layers are mounted over FUSE at
 * pull and fetched as the function reads them, the prioritized files (before the landmark) first; other
 * layers are pulled whole. A cold round restarts the daemon with an empty root, so no fetched chunk is reused.
 */
async function stargzBenchNode(registry: Registry): Promise<BenchNode> {
  const host = registry.address.replace(/:\d+$/, '');
  const daemon = await StargzDaemon.start(host === '127.0.0.1' || host === 'localhost' ? [] : [registry.address]);
  try {
    const { node, bench } = await containerdBenchNode({ remoteSnapshotter: { name: 'stargz', address: daemon.socket } });
    await node.waitForSnapshotter();
    return {
      ...bench,
      kind: 'stargz',
      description: bench.description.replace('overlayfs', 'stargz snapshotter (lazy pull, prefetch)'),
      // the daemon's root is emptied, so no other image may keep snapshots in it
      async removeImageCompletely() {
        await node.removeAllImages();
        await daemon.restart();
        await node.waitForSnapshotter();
      },
      async stop() {
        // containerd first: its tasks hold the FUSE mounts
        await node.stop();
        await daemon.stop();
      },
    };
  } catch (err) {
    await daemon.stop();
    throw err;
  }
}

const NODES: Record<NodeKind, (registry: Registry) => Promise<BenchNode>> = {
  docker: async () => dockerNode(await startBenchEngine()),
  podman: podmanNode,
  containerd: async () => (await containerdBenchNode()).bench,
  stargz: stargzBenchNode,
};

/** The node that plays the engine the user runs: a Podman user's machine may have no dockerd at all. */
export async function defaultBenchNode(): Promise<NodeKind> {
  return (await engineKind(await requireEngine())) === 'podman' ? 'podman' : 'docker';
}

export interface BenchNodeOptions {
  bandwidth?: string;
  registry?: string;
  node: NodeKind;
  log: (line: string) => void;
}

/**
 * A registry (on 127.0.0.1, or behind a shaped link in a network namespace) and a clean node of the
 * bench's own, for the length of `use`; both are removed afterwards, also on failure and Ctrl-C.
 */
export async function withBenchNode<T>(options: BenchNodeOptions, use: (setup: { registry: Registry; node: BenchNode }) => Promise<T>): Promise<T> {
  let link: ShapedLink | undefined;
  let registry: Registry | undefined;
  let node: BenchNode | undefined;
  try {
    await sweepBenchOrphans();
    if (options.bandwidth) {
      options.log(`shaping the registry link to ${options.bandwidth}`);
      link = await createShapedLink({ rate: options.bandwidth });
    }
    registry = options.registry ? connectRegistry(options.registry) : await startRegistry(link ? { host: link.nsAddress, netns: link.netns } : {});
    options.log(`registry at ${registry.address}; starting a clean ${options.node} node`);
    node = await NODES[options.node](registry);
    return await use({ registry, node });
  } finally {
    await node?.stop();
    await registry?.stop();
    await link?.remove();
  }
}
