import assert from 'node:assert/strict';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { BuildReport } from '../../src/build/report.js';
import type { SeccompProfile } from '../../src/security/seccomp.js';
import { engineOrSkip, imageIdentity, REPO, requireFixture, run, slim, tempDir } from './support.js';

// node-express is covered in depth by build.test.ts; every other fixture gets the same contract here
const FIXTURES = readdirSync(join(REPO, 'fixtures'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'node-express' && existsSync(join(REPO, 'fixtures', d.name, 'recording.json')))
  .map((d) => d.name)
  .sort();

describe('every fixture is slimmed and verified', () => {
  const tags: string[] = [];
  let work: { path: string; remove(): Promise<void> } | undefined;
  before(async () => {
    work = await tempDir('fixtures');
  });
  after(async () => {
    for (const tag of tags) await run('docker', ['rmi', tag]).catch(() => undefined);
    await work?.remove();
  });

  for (const name of FIXTURES) {
    test(`${name}: slim build verifies, stays near the traced floor, and v2 reuses the stable layers`, async (t) => {
      if (!(await engineOrSkip(t))) return;
      const recording = join(REPO, 'fixtures', name, 'recording.json');
      await requireFixture(`slim-fixture/${name}:v1`);
      const reports: BuildReport[] = [];
      for (const version of ['v1', 'v2']) {
        if (version === 'v2' && !existsSync(join(REPO, 'fixtures', name, 'v2.json'))) continue;
        const tag = `slim-test/${name}:${version}-slim`;
        tags.push(tag);
        const identity = await imageIdentity(`slim-fixture/${name}:${version}`);
        // v1 is verified under its own seccomp profile: each fixture's runtime (Python, ffmpeg, numpy...) must run under it
        const seccompFile = version === 'v1' ? join(work!.path, `${name}-seccomp.json`) : undefined;
        const seccomp = seccompFile ? ['--seccomp-out', seccompFile] : [];
        const result = await slim(['build', `slim-fixture/${name}:${version}`, '--record', recording, '--tag', tag, '--json', ...seccomp]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(await imageIdentity(`slim-fixture/${name}:${version}`), identity, 'the original is unchanged');
        const report = JSON.parse(result.stdout) as BuildReport;
        assert.equal(report.verification.ok, true);
        assert.equal(report.verification.differing, 0);
        assert.ok(report.verification.requests >= 3);
        assert.ok(report.slim.fileBytes <= 1.1 * report.tracedFloorBytes, `${report.slim.fileBytes} <= 1.1 × ${report.tracedFloorBytes}`);
        assert.ok(report.slim.compressedBytes < report.original.compressedBytes / 2);
        const order = report.slim.layers.map((l) => l.group);
        assert.deepEqual(order, ['system', 'deps', 'app'].filter((g) => order.includes(g as 'system')), 'layers are system → deps → app');
        assert.equal(order.at(-1), 'app');
        if (seccompFile) {
          const names = (JSON.parse(await readFile(seccompFile, 'utf8')) as SeccompProfile).syscalls[0]!.names;
          assert.deepEqual(report.seccomp, { file: seccompFile, syscalls: names.length });
          assert.ok(names.length < 150, `${names.length} syscalls allowed`);
          t.diagnostic(`${name}: the seccomp profile allows ${names.length} syscalls`);
          for (const denied of ['mount', 'ptrace', 'bpf', 'unshare', 'setns', 'kexec_load']) assert.ok(!names.includes(denied), `${denied} is not allowed`);
        }
        const surface = report.attackSurface;
        assert.ok(surface.original.packageManagers.length > 0 && surface.original.setuid.length > 0, 'the original has apt and setuid binaries');
        assert.deepEqual([surface.slim.packageManagers, surface.slim.setuid], [[], []], 'the slim image has neither');
        assert.ok(surface.slim.executables < surface.original.executables / 4, `${surface.slim.executables} of ${surface.original.executables} executables kept`);
        reports.push(report);
      }
      if (reports.length === 2) {
        const [v1, v2] = reports as [BuildReport, BuildReport];
        for (const layer of v1.slim.layers.filter((l) => l.group !== 'app')) {
          assert.equal(v2.slim.layers.find((l) => l.group === layer.group)?.digest, layer.digest, `${layer.group} layer reused by v2`);
        }
        assert.notEqual(v2.slim.layers.at(-1)!.digest, v1.slim.layers.at(-1)!.digest, 'the app layer changed');
      }
    });
  }
});
