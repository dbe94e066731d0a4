import Docker from 'dockerode';
import { environmentError } from '../errors.js';

let shared: Docker | undefined;

/** The Docker engine named by DOCKER_HOST, or the local socket. */
export function docker(): Docker {
  shared ??= new Docker();
  return shared;
}

export function describeEngine(): string {
  return process.env.DOCKER_HOST ?? '/var/run/docker.sock';
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

export function isEngineUnreachable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && UNREACHABLE.has(code);
}

export function engineUnreachableError(err: unknown) {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'no answer';
  return environmentError(
    `Docker engine unreachable at ${describeEngine()} (${code})`,
    'start it (as root: scripts/setup.sh, or systemctl start docker) or point DOCKER_HOST at a running engine',
  );
}

/** Fails with a clear message when no engine answers. */
export async function requireEngine(): Promise<Docker> {
  const engine = docker();
  try {
    await engine.ping();
  } catch (err) {
    throw engineUnreachableError(err);
  }
  return engine;
}
