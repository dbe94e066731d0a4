import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { onCleanup } from '../cleanup.js';
import { requireEngine } from '../docker/engine.js';
import { demuxLogs, engineUlimits, temporaryLabels, temporaryName } from '../docker/function-container.js';
import { SlimError } from '../errors.js';

/**
 * A throwaway root container made from the original image, on the host's network so that apt reaches the
 * archive: the JDK matching the image's JRE is installed there, never on the host, whose JDK differs.
 * Removed by remove(), and at cleanup (also on Ctrl-C).
 */
export class JdkContainer {
  private constructor(
    private readonly container: Docker.Container,
    readonly removeNow: () => Promise<void>,
  ) {}

  static async start(imageId: string): Promise<JdkContainer> {
    const engine = await requireEngine();
    const name = temporaryName('jlink');
    const removeNow = onCleanup(async () => {
      await engine.getContainer(name).remove({ force: true, v: true }).catch(() => undefined);
    });
    try {
      const container = await engine.createContainer({
        name,
        Image: imageId,
        User: '0:0',
        Entrypoint: ['/bin/sh', '-c', 'exec sleep 86400'],
        Cmd: [],
        Labels: temporaryLabels('jlink'),
        HostConfig: {
          NetworkMode: 'host',
          Ulimits: await engineUlimits(engine),
        },
      });
      await container.start();
      return new JdkContainer(container, removeNow);
    } catch (err) {
      await removeNow();
      throw new SlimError(`--jvm-jlink: cannot start a build container from ${imageId}: ${(err as Error).message}`);
    }
  }

  /**
   * Runs a shell script as root; its exit code and its stdout and stderr together. The function's own
   * JVM options are cleared: an agent or -XX flag of the function's must not shape jlink or the CDS dump.
   */
  async run(script: string): Promise<{ code: number; output: string }> {
    try {
      const exec = await this.container.exec({
        Cmd: ['/bin/sh', '-c', script],
        AttachStdout: true,
        AttachStderr: true,
        User: '0:0',
        Env: ['JAVA_TOOL_OPTIONS=', '_JAVA_OPTIONS=', 'JDK_JAVA_OPTIONS=', 'CLASSPATH='],
      });
      const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
      });
      // the stream can end a moment before the engine records the exit code
      for (let i = 0; ; i++) {
        const info = await exec.inspect();
        if (!info.Running && info.ExitCode !== null) return { code: info.ExitCode, output: demuxLogs(Buffer.concat(chunks)) };
        if (i >= 100) throw new Error('the engine never reported the exit code');
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      if (err instanceof SlimError) throw err;
      throw new SlimError(`--jvm-jlink: a step in the build container failed: ${(err as Error).message}`);
    }
  }

  /** Copies one regular file out of the container to `hostFile`; its size. */
  async copyOut(containerPath: string, hostFile: string): Promise<number> {
    try {
      return await this.copyFile(containerPath, hostFile);
    } catch (err) {
      if (err instanceof SlimError) throw err;
      throw new SlimError(`--jvm-jlink: cannot copy ${containerPath} out of the build container: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  private async copyFile(containerPath: string, hostFile: string): Promise<number> {
    const archive = (await this.container.getArchive({ path: containerPath })) as unknown as Readable;
    const extract = tar.extract();
    let size = -1;
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, body, next) => {
        if (header.type !== 'file' || size !== -1) {
          body.resume();
          body.on('end', next);
          return;
        }
        size = header.size ?? 0;
        pipeline(body, createWriteStream(hostFile)).then(() => next(), reject);
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    // pipeline passes on an error of the engine's stream (a reset connection) instead of waiting forever
    await Promise.all([pipeline(archive, extract), done]);
    if (size === -1) throw new SlimError(`--jvm-jlink: ${containerPath} is not a regular file in the build container`);
    return size;
  }

  async remove(): Promise<void> {
    await this.removeNow();
  }
}
