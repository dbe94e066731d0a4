import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { sweepOrphanTempDirs } from '../../src/cleanup.js';
import { mountsUnder, processAlive, processesUsing, releaseDirectory, statStartTime, stopProcesses } from '../../src/host-processes.js';

const exec = promisify(execFile);

/** A shell that sleeps, with `arg` on its command line as a daemon has its data root. */
function sleeper(arg: string, ignoreTerm = false): number {
  const script = ignoreTerm ? "trap '' TERM; while :; do sleep 1; done" : 'sleep 600';
  const child = spawn('sh', ['-c', script, 'sh', arg], { stdio: 'ignore', detached: true });
  child.unref();
  return child.pid!;
}

/** A pid no process has: one that just exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('processes and mounts a killed slim left behind', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'slim-host-test-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test('processesUsing finds a process naming the directory (as `--opt=DIR/x` or a unix:// socket too), not one naming a sibling', async () => {
    const dir = join(base, 'slim-bench-engine-pid1-aaaaaa');
    const inside = sleeper(`${dir}/data`);
    const withOption = sleeper(`--data-root=${dir}/data`);
    // `podman system service unix://DIR/podman.sock`
    const socket = sleeper(`unix://${dir}/podman.sock`);
    const sibling = sleeper(`${dir}x/data`);
    try {
      const found = await processesUsing(dir);
      assert.ok(found.includes(inside) && found.includes(withOption) && found.includes(socket), `${found} has ${inside}, ${withOption} and ${socket}`);
      assert.ok(!found.includes(sibling));
      assert.ok(!found.includes(process.pid));
    } finally {
      await stopProcesses([inside, withOption, socket, sibling], 2000);
    }
    assert.ok(![inside, withOption, socket, sibling].some(processAlive));
  });

  test('stopProcesses kills what ignores SIGTERM after the grace period', async () => {
    const stubborn = sleeper(join(base, 'stubborn'), true);
    await new Promise((r) => setTimeout(r, 200)); // let the shell install its trap
    const started = Date.now();
    await stopProcesses([stubborn], 500);
    assert.equal(processAlive(stubborn), false);
    assert.ok(Date.now() - started >= 500, 'it had its grace period');
  });

  test('sweepOrphanTempDirs stops the processes and unmounts the file systems of a dead owner, then removes its directory', async (t) => {
    const previous = process.env.SLIM_TMPDIR;
    process.env.SLIM_TMPDIR = base;
    try {
      const dead = await deadPid();
      const orphan = join(base, `slim-registry-pid${dead}-bbbbbb`);
      const alive = join(base, `slim-registry-pid${process.pid}-cccccc`);
      await mkdir(join(orphan, 'storage'), { recursive: true });
      await mkdir(alive);
      await writeFile(join(orphan, 'config.yml'), 'version: 0.1\n');
      const daemon = sleeper(join(orphan, 'config.yml'));
      const root = process.getuid?.() === 0;
      if (root) {
        await exec('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'slim-test', join(orphan, 'storage')]);
        await writeFile(join(orphan, 'storage', 'blob'), 'x');
        assert.deepEqual(await mountsUnder(orphan), [join(orphan, 'storage')]);
      } else {
        t.diagnostic('not root: the mount part is not exercised');
      }
      const notices: string[] = [];
      assert.equal(await sweepOrphanTempDirs((line) => notices.push(line)), 1);
      assert.deepEqual(notices, [`stopped sh left running by a killed slim (pid ${dead}) in ${orphan}`]);
      assert.equal(processAlive(daemon), false, 'the daemon started from the orphan directory is stopped');
      assert.deepEqual(await mountsUnder(orphan), []);
      assert.deepEqual(await readdir(base), [`slim-registry-pid${process.pid}-cccccc`], 'only the live owner\'s directory is left');
    } finally {
      if (previous === undefined) delete process.env.SLIM_TMPDIR;
      else process.env.SLIM_TMPDIR = previous;
    }
  });

  test('releaseDirectory on a directory nothing uses does nothing', async () => {
    const dir = join(base, 'idle');
    await mkdir(dir);
    await releaseDirectory(dir);
    assert.deepEqual(await readdir(dir), []);
  });
});

test("a process's start time from /proc/PID/stat, whatever its command name holds", () => {
  const rest = 'S 1 9506 9506 0 -1 4194560 1200 0 0 0 3 1 0 0 20 0 12 0 1519419 1327104000 9000';
  assert.equal(statStartTime(`9731 (conmon) ${rest}`), 1519419);
  assert.equal(statStartTime(`9731 (a) b (c) ${rest}`), 1519419, 'spaces and parentheses in the name');
  assert.equal(statStartTime(''), Infinity, 'a process gone before it was read');
  assert.equal(statStartTime('garbage'), Infinity);
});
