import { existsSync } from 'node:fs';
import Docker from 'dockerode';
import { environmentError } from '../errors.js';

/** Engines slim drives through the Docker Engine API: dockerd, and Podman's Docker-compatible service. */
export const ENGINE_KINDS = ['docker', 'podman'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

const DOCKER_SOCKET = '/var/run/docker.sock';
const PODMAN_ROOTFUL_SOCKET = '/run/podman/podman.sock';

/** Where slim finds the engine: a socket path (unix) or a tcp:// address, and what was asked for. */
export interface EngineAddress {
  /** `docker` unless `--engine podman` was given or the engine answered as Podman */
  asked: EngineKind | 'any';
  /** unix:///path or tcp://host:port, as DOCKER_HOST spells it */
  host: string;
}

let selected: EngineAddress | undefined;
let shared: Docker | undefined;
let detectedKind: EngineKind | undefined;

/**
 * Where Podman's API service listens: CONTAINER_HOST (Podman's own DOCKER_HOST) alone when set, else
 * the rootful and the rootless socket, the user's own first.
 */
export function podmanSocketCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.CONTAINER_HOST?.startsWith('unix://')) return [env.CONTAINER_HOST.slice('unix://'.length)];
  const rootless = env.XDG_RUNTIME_DIR ? [`${env.XDG_RUNTIME_DIR}/podman/podman.sock`] : [];
  return process.getuid?.() === 0 ? [PODMAN_ROOTFUL_SOCKET, ...rootless] : [...rootless, PODMAN_ROOTFUL_SOCKET];
}

/**
 * Chooses the engine for this process (the CLI's `--engine`): `podman` finds Podman's socket, `docker`
 * or nothing keeps DOCKER_HOST or the local dockerd socket. Podman behind DOCKER_HOST is recognised
 * when it answers.
 */
export function selectEngine(kind: EngineKind | undefined, env: NodeJS.ProcessEnv = process.env): EngineAddress {
  if (kind === 'podman') {
    const candidates = podmanSocketCandidates(env);
    const found = candidates.find((path) => existsSync(path)) ?? candidates[0]!;
    selected = { asked: 'podman', host: `unix://${found}` };
  } else {
    selected = { asked: kind ?? 'any', host: env.DOCKER_HOST ?? `unix://${DOCKER_SOCKET}` };
  }
  shared = undefined;
  detectedKind = kind === 'podman' ? 'podman' : undefined;
  return selected;
}

function address(): EngineAddress {
  return selected ?? selectEngine(undefined);
}

/** The engine this process talks to (see selectEngine). */
export function docker(): Docker {
  const { asked, host } = address();
  // dockerode reads DOCKER_HOST itself, with its TLS variables
  shared ??= asked === 'podman' ? new Docker({ socketPath: host.slice('unix://'.length) }) : new Docker();
  return shared;
}

/** DOCKER_HOST's spelling of the engine's address, for tools slim runs (skopeo's --src-daemon-host). */
export function engineHost(): string {
  return address().host;
}

export function describeEngine(): string {
  return address().host.replace(/^unix:\/\//, '');
}

/** "Podman" or "the Docker engine", for messages. */
export function engineName(): string {
  return (detectedKind ?? address().asked) === 'podman' ? 'Podman' : 'the Docker engine';
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

export function engineUnreachableError(err: unknown) {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'no answer';
  const where = describeEngine();
  if (address().asked === 'podman' || /podman/.test(where)) {
    return environmentError(`Podman's API service is not running at ${where} (${code})`, `start it: ${podmanServiceCommand(where)}`);
  }
  return environmentError(
    `Docker engine unreachable at ${where} (${code})`,
    'start it (as root: scripts/setup.sh, or systemctl start docker), point DOCKER_HOST at a running engine, or use Podman with --engine podman',
  );
}

/** Which engine answers: Podman names itself in /version's components. */
export async function engineKind(engine: Docker = docker()): Promise<EngineKind> {
  if (engine === shared && detectedKind) return detectedKind;
  const version = (await engine.version()) as { Components?: Array<{ Name?: string }> };
  const kind: EngineKind = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? '')) ? 'podman' : 'docker';
  if (engine === shared) detectedKind = kind;
  return kind;
}

/** Fails with a clear message when no engine answers. */
export async function requireEngine(): Promise<Docker> {
  const engine = docker();
  try {
    await engine.ping();
    if (!detectedKind) await engineKind(engine);
  } catch (err) {
    throw engineUnreachableError(err);
  }
  return engine;
}
