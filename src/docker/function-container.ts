import { createServer } from 'node:net';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isShuttingDown, makeTempDir, onCleanup, refuseWhenShuttingDown, whileCreating, type TempDir } from '../cleanup.js';
import { processAlive } from '../host-processes.js';
import { inputError, SlimError } from '../errors.js';
import type { HttpResponse } from '../recording/http-client.js';
import type { RecordedRequest, Recording } from '../recording/types.js';
import { replay, type ReplayedRequest } from '../recording/replay.js';
import { openEndpoint, type FunctionEndpoint, type RunningFunction } from '../platform/endpoint.js';
import { engineKind, engineName, requireEngine } from './engine.js';
import { podmanServiceLimitsText, podmanUlimits } from './process-limits.js';

export const TEMPORARY_LABEL = 'slim.temporary';
const OWNER_PID_LABEL = 'slim.pid';
const OWNER_HOST_LABEL = 'slim.host';
let containerCounter = 0;

/** Labels of a container slim removes when done, or when a later run finds its owner gone (sweepOrphanContainers). */
export function temporaryLabels(purpose: string): Record<string, string> {
  return { [TEMPORARY_LABEL]: 'true', 'slim.purpose': purpose, [OWNER_PID_LABEL]: String(process.pid), [OWNER_HOST_LABEL]: hostname() };
}

/** The limits a container on this engine must be given: on Podman its service's own (see podmanUlimits), else none. */
export async function engineUlimits(engine: Docker): Promise<ReturnType<typeof podmanUlimits> | undefined> {
  if ((await engineKind(engine)) !== 'podman') return undefined;
  return podmanUlimits(podmanServiceLimitsText((engine.modem as { socketPath?: string }).socketPath));
}

/** A container name unique to this process. */
export function temporaryName(purpose: string): string {
  return `slim-${purpose}-${process.pid}-${++containerCounter}`;
}

/**
 * Removes temporary containers left by slim processes on this host that no longer exist (killed
 * with SIGKILL, or interrupted while a container was being created), so a run after a killed one
 * starts clean.
 */
export async function sweepOrphanContainers(engine: Docker): Promise<number> {
  const containers = await engine.listContainers({ all: true, filters: { label: [`${TEMPORARY_LABEL}=true`] } });
  let removed = 0;
  for (const c of containers) {
    const pid = Number(c.Labels[OWNER_PID_LABEL]);
    if (c.Labels[OWNER_HOST_LABEL] !== hostname() || !Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    await engine.getContainer(c.Id).remove({ force: true }).then(
      () => (removed += 1),
      () => undefined,
    );
  }
  return removed;
}

/** A port on 127.0.0.1 nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * True when functions run on the engine's default bridge, published to 127.0.0.1: only on a dockerd that
 * has one. On these machines dockerd has none and containers share the host network. Podman always lists
 * a "bridge" (its own default network on a private subnet, which every install brings and nobody configured),
 * so on Podman functions share the host network too, as the bench node and Lambda's Runtime API need.
 */
export async function engineHasBridge(engine: Docker): Promise<boolean> {
  if ((await engineKind(engine)) === 'podman') return false;
  const networks = await engine.listNetworks({ filters: { name: ['bridge'] } });
  return networks.some((n) => n.Name === 'bridge' && n.Driver === 'bridge');
}

export interface FunctionRunSpec {
  image: string;
  recording: Recording;
  /** why the container exists, kept in a label (trace, verify-original, verify-slim, bench) */
  purpose: string;
  /** the engine to run on (default: the user's engine); the bench runs functions on its own */
  engine?: Docker;
  /** replaces the command entirely (the tracer wraps the original command this way) */
  wrap?: (argv: string[]) => { entrypoint: string[]; binds: string[]; capAdd: string[] };
  /** a seccomp profile's JSON text (dockerd's Engine API takes the profile itself, Podman's a path) */
  seccompProfile?: string;
  /** variables that replace the function's own of the same name (NAME=value) */
  env?: string[];
  /** host directories to mount, as `host:container[:options]` */
  binds?: string[];
}

export interface ImageCommand {
  argv: string[];
  user: string;
  workingDir: string;
  env: string[];
}

/** ENTRYPOINT + CMD as Docker combines them, with the recording's overrides (an entrypoint override resets CMD). */
export function effectiveArgv(config: { Entrypoint?: string[] | null; Cmd?: string[] | null }, recording: Pick<Recording, 'entrypoint' | 'command'>): string[] {
  const entrypoint = recording.entrypoint ?? config.Entrypoint ?? [];
  const cmd = recording.command ?? (recording.entrypoint ? [] : (config.Cmd ?? []));
  return [...entrypoint, ...cmd];
}

/** The engine's inspect gives ENTRYPOINT and CMD as a string when a Dockerfile used the shell form. */
export function asArray(v: string | string[] | null | undefined): string[] | null | undefined {
  return typeof v === 'string' ? [v] : v;
}

/** effectiveArgv of the config as the engine's inspect gives it. */
export function engineArgv(config: { Entrypoint?: string | string[] | null; Cmd?: string | string[] | null }, recording: Pick<Recording, 'entrypoint' | 'command'>): string[] {
  return effectiveArgv({ Entrypoint: asArray(config.Entrypoint), Cmd: asArray(config.Cmd) }, recording);
}

/**
 * The function's environment on any node: the recording's variables, the port it must listen on,
 * and what its platform's endpoint passes (Lambda's AWS_* variables); `cmd` is the image's CMD.
 */
export function functionEnvironment(recording: Recording, listenPort: number, endpoint: FunctionEndpoint, cmd: string[]): string[] {
  return [
    ...Object.entries(recording.env).map(([k, v]) => `${k}=${v}`),
    ...recording.portEnv.map((name) => `${name}=${listenPort}`),
    ...Object.entries(endpoint.environment(recording.command ?? cmd)).map(([k, v]) => `${k}=${v}`),
  ];
}

/** `env` with each of `overrides` (NAME=value) in place of a variable of the same name. */
export function replaceVariables(env: string[], overrides: string[]): string[] {
  const name = (v: string) => v.slice(0, v.indexOf('=') === -1 ? undefined : v.indexOf('='));
  const replaced = new Set(overrides.map(name));
  return [...env.filter((v) => !replaced.has(name(v))), ...overrides];
}

/** A throwaway container running the function, reachable through its platform's endpoint (HTTP on 127.0.0.1:hostPort). */
export class FunctionContainer implements RunningFunction {
  private exitInfo?: { code: number };
  private constructor(
    readonly container: Docker.Container,
    readonly hostPort: number,
    readonly argv: string[],
    /** epoch ms when slim asked the engine to create the container: cold-start times count from here */
    readonly startedAt: number,
    private readonly recording: Recording,
    private readonly endpoint: FunctionEndpoint,
    private readonly removeNow: () => Promise<void>,
  ) {}

  get port(): number {
    return this.hostPort;
  }

  static async start(spec: FunctionRunSpec): Promise<FunctionContainer> {
    const engine = spec.engine ?? (await requireEngine());
    const info = await engine.getImage(spec.image).inspect().catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) throw inputError(`image ${spec.image} not found in ${engineName(engine)}`);
      throw err;
    });
    const argv = engineArgv(info.Config, spec.recording);
    if (argv.length === 0) {
      throw inputError(`image ${spec.image} has no ENTRYPOINT or CMD`, 'give "command" in the recording');
    }
    await sweepOrphanContainers(engine);
    // registered before the container exists, by name, so Ctrl-C during the create still removes it
    refuseWhenShuttingDown();
    const name = temporaryName(spec.purpose);
    let endpoint: FunctionEndpoint | undefined;
    let profileDir: TempDir | undefined;
    const removeNow = onCleanup(async () => {
      await engine.getContainer(name).remove({ force: true }).catch(() => undefined);
      await endpoint?.close();
      await profileDir?.remove();
    });
    let container: Docker.Container;
    let reachPort: number;
    let createdAt: number;
    try {
      endpoint = await openEndpoint(spec.recording);
      // a Lambda function calls slim's Runtime API on 127.0.0.1, which it reaches only on the host's network
      const bridge = !endpoint.needsHostNetwork && (await engineHasBridge(engine));
      const hostPort = await freePort();
      // With host networking the function listens on a free port of ours, passed in through portEnv; an app
      // that reads no port variable keeps its own port. With a bridge, its port is published to ours.
      reachPort = !bridge && spec.recording.portEnv.length === 0 ? spec.recording.port : hostPort;
      const listenPort = bridge ? spec.recording.port : reachPort;
      const env = replaceVariables(functionEnvironment(spec.recording, listenPort, endpoint, asArray(info.Config.Cmd) ?? []), spec.env ?? []);
      const wrapped = spec.wrap?.(argv);
      const podman = (await engineKind(engine)) === 'podman';
      let seccomp = spec.seccompProfile;
      if (podman && seccomp !== undefined) {
        // Podman reads `seccomp=` as a path on its own host (local, as the sensor's bind mounts are)
        profileDir = await makeTempDir('seccomp');
        await writeFile(join(profileDir.path, 'profile.json'), seccomp);
        seccomp = join(profileDir.path, 'profile.json');
      }
      createdAt = Date.now();
      // the cleanup waits for a create in flight: a removal by name that ran before the engine made it missed it
      container = await whileCreating(
        engine
          .createContainer({
            name,
            Image: spec.image,
            Env: env,
            Entrypoint: wrapped ? wrapped.entrypoint : argv.slice(0, 1),
            Cmd: wrapped ? [] : argv.slice(1),
            Labels: temporaryLabels(spec.purpose),
            ExposedPorts: bridge ? { [`${spec.recording.port}/tcp`]: {} } : undefined,
            HostConfig: {
              NetworkMode: bridge ? 'bridge' : 'host',
              PortBindings: bridge ? { [`${spec.recording.port}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } : undefined,
              Binds: wrapped?.binds || spec.binds ? [...(wrapped?.binds ?? []), ...(spec.binds ?? [])] : undefined,
              CapAdd: wrapped?.capAdd,
              SecurityOpt: seccomp === undefined ? undefined : [`seccomp=${seccomp}`],
              Ulimits: await engineUlimits(engine),
              AutoRemove: false,
            },
          })
          .then(
            async (created) => {
              if (isShuttingDown()) {
                await created.remove({ force: true }).catch(() => undefined);
                refuseWhenShuttingDown();
              }
              return created;
            },
            (err: Error) => {
              throw new SlimError(`cannot create a container from ${spec.image}: ${err.message}`);
            },
          ),
      );
    } catch (err) {
      await removeNow();
      throw err;
    }
    const handle = new FunctionContainer(container, reachPort, argv, createdAt, spec.recording, endpoint, removeNow);
    try {
      await container.start();
    } catch (err) {
      await removeNow();
      throw new SlimError(`cannot start a container from ${spec.image}: ${(err as Error).message}`);
    }
    return handle;
  }

  /** The last `lines` lines of the container's stdout and stderr. */
  async logs(lines = 50): Promise<string> {
    const raw = (await this.container.logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxLogs(raw);
  }

  async exited(): Promise<{ code: number } | undefined> {
    if (this.exitInfo) return this.exitInfo;
    const state = (await this.container.inspect()).State;
    if (state.Running) return undefined;
    this.exitInfo = { code: state.ExitCode };
    return this.exitInfo;
  }

  /**
   * Waits until the function is ready as its recording defines it (answers, logs the text, polls the
   * Runtime API); fails with its logs if it exits or times out.
   */
  async waitReady(): Promise<number> {
    const readiness = this.recording.readiness;
    const deadline = Date.now() + readiness.timeoutMs;
    for (;;) {
      if (await this.isReady()) return Date.now() - this.startedAt;
      const exit = await this.exited();
      if (exit) {
        throw new SlimError(
          `the function exited with code ${exit.code} before it was ready (${this.argv.join(' ')})\n--- last 50 log lines ---\n${await this.logs(50)}`,
        );
      }
      if (Date.now() > deadline) {
        const what =
          readiness.kind === 'http'
            ? `${readiness.method} ${readiness.path} on port ${this.hostPort} never answered`
            : readiness.kind === 'log'
              ? `log never showed ${JSON.stringify(readiness.pattern)}`
              : 'it never polled the Runtime API for an event (is the image\'s runtime a Lambda runtime client?)';
        throw new SlimError(`the function was not ready after ${readiness.timeoutMs} ms: ${what}\n--- last 50 log lines ---\n${await this.logs(50)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async isReady(): Promise<boolean> {
    const readiness = this.recording.readiness;
    if (readiness.kind === 'log') return (await this.logs(1000)).includes(readiness.pattern);
    try {
      return await this.endpoint.isReady(this);
    } catch (err) {
      if (err instanceof SlimError) throw new SlimError(`${err.message}\n--- last 50 log lines ---\n${await this.logs(50)}`, err.exitCode);
      throw err;
    }
  }

  /**
   * Replays the recording against the function; the error of a step that fails carries the function's
   * last 50 log lines (headed with `logsOf`, the image, when given).
   */
  async replay(options: { checkStatus?: boolean; logsOf?: string } = {}): Promise<ReplayedRequest[]> {
    try {
      return await replay(this.recording, (r) => this.send(r), { checkStatus: options.checkStatus });
    } catch (err) {
      if (err instanceof SlimError) throw new SlimError(`${err.message}\n--- last 50 log lines${options.logsOf ? ` of ${options.logsOf}` : ''} ---\n${await this.logs(50)}`, err.exitCode);
      throw err;
    }
  }

  /** One recorded step through the platform's endpoint. */
  send(request: RecordedRequest): Promise<HttpResponse> {
    return this.endpoint.send(request, this);
  }

  /** The first successful answer to `request` while the function starts, by `deadline` (epoch ms). */
  firstAnswer(request: RecordedRequest, deadline: number): Promise<HttpResponse> {
    return this.endpoint.firstAnswer(request, this, deadline);
  }

  /** Stops the function (SIGTERM, then SIGKILL after `graceSeconds`). */
  async stop(graceSeconds = 5): Promise<void> {
    await this.container.stop({ t: graceSeconds }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304 && err.statusCode !== 404) throw err;
    });
  }

  async remove(): Promise<void> {
    await this.removeNow();
  }
}

/** Docker multiplexes stdout and stderr of a non-TTY container into 8-byte-framed chunks. */
export function demuxLogs(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw;
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length && (raw[offset] === 1 || raw[offset] === 2) && raw[offset + 1] === 0) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  if (offset === 0) return raw.toString('utf8');
  return Buffer.concat(parts).toString('utf8');
}
