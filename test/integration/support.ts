import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO, 'dist/src/cli.js');
export const PEER_IMAGES = join(REPO, '../shared/peer-images');
export const NODE_EXPRESS = 'slim-fixture/node-express:v1';

/**
 * Integration tests need a real engine. Outside CI they are skipped with a reason when none answers;
 * in CI (CI=true) a missing engine fails them, so they can never pass by not running.
 */
export async function engineOrSkip(t: { skip(message: string): void }): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 20_000 });
    return true;
  } catch {
    if (process.env.CI) throw new Error('no Docker engine answers, and CI=true requires integration tests to run (scripts/setup.sh starts one)');
    t.skip('no Docker engine (run scripts/setup.sh as root)');
    return false;
  }
}

export async function imageId(reference: string): Promise<string> {
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', reference]);
  return stdout.trim();
}

/** The image's ID (its config digest) and its repository digests: neither may change under any slim command. */
export async function imageIdentity(reference: string): Promise<string> {
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}} {{json .RepoDigests}}', reference]);
  return stdout.trim();
}

export async function requireFixture(reference: string): Promise<string> {
  try {
    return await imageId(reference);
  } catch {
    throw new Error(`fixture image ${reference} is missing: build it with node fixtures/build.mjs`);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function slim(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export async function tempDir(name: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `slim-test-${name}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function listDir(path: string): Promise<string[]> {
  return (await readdir(path)).sort();
}

/**
 * `slim record ARGS` as a child process: resolves once its proxy is up, with the proxy's address, its
 * exit (code) and its stderr so far.
 */
export async function startRecording(args: string[]): Promise<{ child: ChildProcess; address: string; exited: Promise<number | null>; stderr(): string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`slim record never became ready: ${stderr}`)), 60_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /send requests to (http:\/\/127\.0\.0\.1:\d+)\//.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then((code) => reject(new Error(`slim record exited with ${code}: ${stderr}`)));
  });
  return { child, address, exited, stderr: () => stderr };
}
