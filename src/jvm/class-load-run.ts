import { chmod, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../cleanup.js';
import { FunctionContainer } from '../docker/function-container.js';
import { SlimError } from '../errors.js';
import type { Recording } from '../recording/types.js';
import { parseClassLoadLog, type ClassLoadLog } from './class-load-log.js';

const LOG_DIR = '/slim-class-load';

/**
 * JAVA_TOOL_OPTIONS for a run that logs every class it loads: without the CDS archive (-Xshare:off), so
 * each JDK class names the module it came from; one file per JVM (%p), so a wrapper's JVMs do not mix.
 */
export function classLoadOptions(existing: string | undefined): string {
  // filecount=0: one file however long the run, never rotated away
  const ours = `-Xshare:off -Xlog:class+load=info:file=${LOG_DIR}/class-load-%p.log:tags:filecount=0`;
  return existing ? `${existing} ${ours}` : ours;
}

/** The variable's value in NAME=value entries (the last one wins, as in a container's environment). */
export function variableValue(env: string[], name: string): string | undefined {
  const entry = env.filter((v) => v.startsWith(`${name}=`)).at(-1);
  return entry?.slice(name.length + 1);
}

/**
 * Runs the recording once more, untraced, with the JVM logging each class it loads, and reads what it
 * loaded. The container and the log directory are removed whatever happens.
 */
export async function recordClassLoads(imageId: string, imageEnv: string[], recording: Recording): Promise<ClassLoadLog> {
  const out = await makeTempDir('class-load');
  await chmod(out.path, 0o1777); // the function keeps the image's USER
  const existing = recording.env.JAVA_TOOL_OPTIONS ?? variableValue(imageEnv, 'JAVA_TOOL_OPTIONS');
  let container: FunctionContainer | undefined;
  try {
    container = await FunctionContainer.start({
      image: imageId,
      recording,
      purpose: 'class-load',
      env: [`JAVA_TOOL_OPTIONS=${classLoadOptions(existing)}`],
      binds: [`${out.path}:${LOG_DIR}`],
    });
    await container.waitReady();
    await container.replay({ checkStatus: false });
    await container.stop();
    const files = (await readdir(out.path)).filter((f) => f.endsWith('.log')).sort();
    let log: ClassLoadLog | undefined;
    for (const file of files) {
      const text = await readFile(join(out.path, file), 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new SlimError(`--jvm-jlink: cannot read the JVM's class-load log ${file}: ${err.code ?? String(err)}`, undefined, "the function's user must leave its files readable (umask)");
      });
      log = parseClassLoadLog(text, log);
    }
    if (!log || log.lines === 0) {
      throw new SlimError(
        `--jvm-jlink: the function ran with JAVA_TOOL_OPTIONS=-Xlog:class+load but no JVM wrote a class-load log; last log lines:\n${await container.logs(20)}`,
        undefined,
        'does the function start a JVM that reads JAVA_TOOL_OPTIONS?',
      );
    }
    if (log.fromSharedArchive > 0) {
      throw new SlimError(
        `--jvm-jlink: ${log.fromSharedArchive} classes came from a CDS archive, which names no module: the function's own JVM options turn CDS on over JAVA_TOOL_OPTIONS=-Xshare:off`,
        undefined,
        'remove -Xshare:on/auto from the command line or _JAVA_OPTIONS for the build, or build without --jvm-jlink',
      );
    }
    return log;
  } finally {
    await container?.remove();
    await out.remove();
  }
}
