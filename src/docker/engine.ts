import { existsSync } from 'node:fs';
import Docker from 'dockerode';
import { environmentError, SlimError } from '../errors.js';

/** Engines slim drives through the Docker Engine API: dockerd, and Podman's Docker-compatible service. */
export const ENGINE_KINDS = ['docker', 'podman'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

const DOCKER_SOCKET = '/var/run/docker.sock';
const PODMAN_ROOTFUL_SOCKET = '/run/podman/podman.sock';

/** Where slim finds the engine, and what the user asked for. */
export interface EngineAddress {
  /** `podman` with `--engine podman`; `docker` or `any` otherwise (Podman behind DOCKER_HOST is recognised when it answers) */
  asked: EngineKind | 'any';
  /** as the user spelled it (DOCKER_HOST), or the socket path slim chose */
  host: string;
  /** the unix socket, when the engine is reached through one */
  socketPath?: string;
}

let selected: EngineAddress | undefined;
let shared: Docker | undefined;
const kinds = new WeakMap<Docker, EngineKind>();

/**
 * Where Podman's API service listens: CONTAINER_HOST (Podman's own DOCKER_HOST) alone when set, else
 * the rootful and the rootless socket, the user's own first.
 */
export function podmanSocketCandidates(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.()): string[] {
  if (env.CONTAINER_HOST) {
    if (!env.CONTAINER_HOST.startsWith('unix://')) {
      // the sensor bind-mounts the host's strace and the trace directory: the engine must be on this host
      throw environmentError(`CONTAINER_HOST=${env.CONTAINER_HOST}: slim reaches Podman through a unix socket on this host only`, 'unset CONTAINER_HOST, or set it to unix:///run/podman/podman.sock (or your rootless socket)');
    }
    return [env.CONTAINER_HOST.slice('unix://'.length)];
  }
  const rootless = env.XDG_RUNTIME_DIR ? [`${env.XDG_RUNTIME_DIR}/podman/podman.sock`] : [];
  return uid === 0 ? [PODMAN_ROOTFUL_SOCKET, ...rootless] : [...rootless, PODMAN_ROOTFUL_SOCKET];
}

/**
 * Chooses the engine for this process (the CLI's `--engine`): `podman` finds Podman's socket, `docker`
 * or nothing keeps DOCKER_HOST or the local dockerd socket.
 */
export function selectEngine(kind: EngineKind | undefined, env: NodeJS.ProcessEnv = process.env): EngineAddress {
  if (kind === 'podman') {
    const candidates = podmanSocketCandidates(env);
    const found = candidates.find((path) => existsSync(path)) ?? candidates[0]!;
    selected = { asked: 'podman', host: found, socketPath: found };
  } else if (env.DOCKER_HOST) {
    const socketPath = env.DOCKER_HOST.startsWith('unix://') ? env.DOCKER_HOST.slice('unix://'.length) : undefined;
    selected = { asked: kind ?? 'any', host: env.DOCKER_HOST, socketPath };
  } else {
    selected = { asked: kind ?? 'any', host: DOCKER_SOCKET, socketPath: DOCKER_SOCKET };
  }
  shared = undefined;
  return selected;
}

function address(): EngineAddress {
  return selected ?? selectEngine(undefined);
}

/** The engine this process talks to (see selectEngine). */
export function docker(): Docker {
  const { asked, socketPath } = address();
  // dockerode reads DOCKER_HOST itself, with its TLS variables
  shared ??= asked === 'podman' ? new Docker({ socketPath }) : new Docker();
  return shared;
}

/** DOCKER_HOST's spelling of the engine's address, for tools slim runs (skopeo's --src-daemon-host). */
export function engineHost(): string {
  const { host, socketPath } = address();
  return socketPath ? `unix://${socketPath}` : host;
}

export function describeEngine(): string {
  return address().host;
}

function nameOf(kind: EngineKind | 'any' | undefined): string {
  return kind === 'podman' ? 'Podman' : 'the Docker engine';
}

/** "Podman" or "the Docker engine": `engine`'s kind once it answered, else what the user asked for. */
export function engineName(engine: Docker | undefined = shared): string {
  return nameOf((engine && kinds.get(engine)) ?? address().asked);
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

export function isEngineUnreachable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && UNREACHABLE.has(code);
}

/** The command that starts Podman's API service on the socket slim looks at. */
export function podmanServiceCommand(socket: string): string {
  return socket === PODMAN_ROOTFUL_SOCKET
    ? `mkdir -p /run/podman && podman system service --time=0 unix://${socket} & (or: systemctl start podman.socket)`
    : `podman system service --time=0 unix://${socket} & (or: systemctl --user start podman.socket)`;
}

export function engineUnreachableError(err: unknown): SlimError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'no answer';
  const { asked, host, socketPath } = address();
  const podman = asked === 'podman' || (socketPath !== undefined && /podman/.test(socketPath));
  if (code === 'EACCES') {
    return environmentError(
      `no permission to use ${podman ? "Podman's" : "the Docker engine's"} socket ${host} (EACCES)`,
      podman ? 'run slim as root, or use your rootless Podman (systemctl --user start podman.socket; slim finds $XDG_RUNTIME_DIR/podman/podman.sock)' : 'run slim as root or as a member of the docker group',
    );
  }
  if (podman && socketPath) {
    return environmentError(`Podman's API service is not running at ${host} (${code})`, `start it: ${podmanServiceCommand(socketPath)}`);
  }
  return environmentError(
    `Docker engine unreachable at ${host} (${code})`,
    'start it (as root: scripts/setup.sh, or systemctl start docker), point DOCKER_HOST at a running engine, or use Podman with --engine podman',
  );
}

/** Which engine answers: Podman names itself in /version's components. Asked once per connection. */
export async function engineKind(engine: Docker = docker()): Promise<EngineKind> {
  const known = kinds.get(engine);
  if (known) return known;
  let version: { Components?: Array<{ Name?: string }> };
  try {
    version = (await engine.version()) as typeof version;
  } catch (err) {
    if (isEngineUnreachable(err)) throw engineUnreachableError(err);
    throw new SlimError(`the engine at ${describeEngine()} did not say what it is (GET /version): ${(err as Error).message}`);
  }
  const kind: EngineKind = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? '')) ? 'podman' : 'docker';
  kinds.set(engine, kind);
  return kind;
}

/** Fails with a clear message when no engine answers. */
export async function requireEngine(): Promise<Docker> {
  const engine = docker();
  try {
    await engine.ping();
  } catch (err) {
    throw engineUnreachableError(err);
  }
  await engineKind(engine);
  return engine;
}
