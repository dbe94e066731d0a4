import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BuildReport } from '../../src/build/report.js';
import { engineOrSkip, imageIdentity, REPO, requireFixture, run, slim, tempDir } from './support.js';

const IMAGE = 'slim-fixture/jvm-http:v1';
const TAG = 'slim-test/jvm-http:v1-jlink';
const V2 = 'slim-fixture/jvm-http:v2';
const TAG_V2 = 'slim-test/jvm-http:v2-jlink';
const RECORDING = join(REPO, 'fixtures/jvm-http/recording.json');

interface JvmProfile {
  jvm: { javaHome: string; jdk: string; modules: Array<{ name: string; why: string }>; linked: string[]; locales: string[]; replaced: Array<{ path: string; bytes: number }> };
  groups: Array<{ path: string; rule: string }>;
  kept: Array<{ path: string; bytes: number; replaced?: true }>;
}

describe('slim build --jvm-jlink', () => {
  let work: { path: string; remove(): Promise<void> } | undefined;
  before(async () => {
    work = await tempDir('jlink');
  });
  after(async () => {
    for (const tag of [TAG, TAG_V2]) await run('docker', ['rmi', tag]).catch(() => undefined);
    await work?.remove();
  });

  let v1: BuildReport | undefined;

  test("jvm-http: the JRE's modules are replaced by a jlink'd runtime of the modules the run used, verified, with a working CDS archive", async (t) => {
    if (!(await engineOrSkip(t))) return;
    await requireFixture(IMAGE);
    const identity = await imageIdentity(IMAGE);
    const profileFile = join(work!.path, 'profile.json');
    const result = await slim(['build', IMAGE, '--record', RECORDING, '--tag', TAG, '--jvm-jlink', '--profile-out', profileFile, '--json'], { SLIM_CACHE_DIR: join(work!.path, 'cache') });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await imageIdentity(IMAGE), identity, 'the original is unchanged');
    const report = JSON.parse(result.stdout) as BuildReport;
    v1 = report;
    assert.equal(report.verification.ok, true);
    assert.equal(report.verification.differing, 0);
    assert.equal(report.verification.requests, 15);
    assert.equal(report.jvm!.fromCache, false, 'an empty cache: linked here');

    const jvm = report.jvm!;
    assert.equal(jvm.javaHome, '/usr/lib/jvm/java-17-openjdk-amd64');
    assert.match(jvm.jdk, /^openjdk-17-jdk-headless=17\./);
    // what each route made the JVM load by itself
    for (const m of ['java.base', 'jdk.httpserver', 'jdk.crypto.ec', 'jdk.charsets', 'jdk.localedata']) assert.ok(jvm.modules.includes(m), `${m} is linked`);
    // jdeps names java.sql for jackson-databind, but no class the run loaded refers to it; the JDK's tools are never needed
    for (const m of ['java.sql', 'jdk.compiler', 'jdk.jlink', 'java.management']) assert.ok(!jvm.modules.includes(m), `${m} is not linked`);
    const modules = jvm.replaced.find((r) => r.path.endsWith('/lib/modules'))!;
    assert.ok(modules.bytes < modules.originalBytes / 2, `lib/modules ${modules.bytes} < half of ${modules.originalBytes}`);
    assert.ok(jvm.replaced.some((r) => r.path.endsWith('/lib/server/classes.jsa')), 'the CDS archive is dumped again for the new modules');
    // the file-level slim image of jvm-http is within 1% of the traced floor (fixtures.test.ts)
    assert.ok(report.slim.fileBytes < 0.6 * report.tracedFloorBytes, `${report.slim.fileBytes} < 0.6 × ${report.tracedFloorBytes}`);

    const profile = JSON.parse(await readFile(profileFile, 'utf8')) as JvmProfile;
    const keptModules = profile.kept.find((k) => k.path === modules.path)!;
    assert.deepEqual([keptModules.bytes, keptModules.replaced], [modules.bytes, true], 'the profile describes lib/modules as the slim image holds it');
    for (const m of profile.jvm.modules) assert.match(m.why, /recorded run loaded \d+ class|jdeps:|the runtime itself/, `${m.name}: ${m.why}`);
    assert.ok(profile.jvm.modules.find((m) => m.name === 'jdk.crypto.ec')!.why.includes('sun.security.ec'), 'the why names a class');
    for (const m of jvm.modules) assert.ok(profile.jvm.linked.includes(m), `${m} is in the runtime's release`);
    assert.ok(profile.jvm.locales.includes('ja') && profile.jvm.locales.includes('de'), `locales ${profile.jvm.locales}`);
    assert.match(profile.groups.find((g) => g.path === modules.path)!.rule, /content replaced/);

    // -Xshare:on fails unless the archive matches the modules file it runs with
    const cds = await run('docker', ['run', '--rm', '--network', 'host', '--entrypoint', `${jvm.javaHome}/bin/java`, TAG, '-Xshare:on', '-version']);
    assert.match(cds.stderr, /openjdk version "17\./);
  });

  test("jvm-http v2 with --jvm-jlink takes v1's linked runtime from the cache: jlink does not run, and every layer but the app's is v1's", async (t) => {
    if (!(await engineOrSkip(t))) return;
    if (!v1) return t.skip('the v1 build failed');
    await requireFixture(V2);
    const result = await slim(['--verbose', 'build', V2, '--record', RECORDING, '--tag', TAG_V2, '--jvm-jlink', '--json'], { SLIM_CACHE_DIR: join(work!.path, 'cache') });
    assert.equal(result.code, 0, result.stderr);
    const v2 = JSON.parse(result.stdout) as BuildReport;
    assert.equal(v2.verification.ok, true);
    assert.equal(v2.jvm!.fromCache, true);
    assert.match(result.stderr, /--jvm-jlink: the runtime of these \d+ modules was linked before: taken from /);
    assert.doesNotMatch(result.stderr, /linking \d+ modules with jlink/, 'jlink did not run');
    assert.deepEqual(v2.jvm!.replaced, v1.jvm!.replaced);
    const digests = (r: BuildReport) => Object.fromEntries(r.slim.layers.map((l) => [l.group, l.digest]));
    const [before, now] = [digests(v1), digests(v2)];
    assert.equal(now.system, before.system, 'the system layer, with lib/modules and the CDS archive, is pulled once');
    assert.equal(now.deps, before.deps);
    assert.notEqual(now.app, before.app, 'the code change is in the app layer');
  });

  test('--jvm-add-modules without --jvm-jlink, or with a bad name: exit 2 before any work', async () => {
    const alone = await slim(['build', IMAGE, '--record', RECORDING, '--jvm-add-modules', 'java.sql']);
    assert.equal(alone.code, 2, alone.stderr);
    assert.match(alone.stderr, /--jvm-add-modules needs --jvm-jlink/);
    const bad = await slim(['build', IMAGE, '--record', RECORDING, '--jvm-jlink', '--jvm-add-modules', 'java.sql,../x']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /"\.\.\/x" is not a module name/);
  });

  test('--jvm-jlink on an image without a Java runtime: exit 3 before tracing, and no image is made', async (t) => {
    if (!(await engineOrSkip(t))) return;
    await requireFixture('slim-fixture/python-nspkg:v1');
    const tag = 'slim-test/python-nspkg:jlink-refused';
    const result = await slim(['--verbose', 'build', 'slim-fixture/python-nspkg:v1', '--record', join(REPO, 'fixtures/python-nspkg/recording.json'), '--tag', tag, '--jvm-jlink']);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /--jvm-jlink: image slim-fixture\/python-nspkg:v1 holds no Java runtime/);
    assert.match(result.stderr, /slim: reading slim-fixture\/python-nspkg:v1\n/, 'the steps are printed');
    assert.doesNotMatch(result.stderr, /tracing/, 'it stops before the trace');
    const inspect = await run('docker', ['image', 'inspect', tag]).then(() => 0, () => 1);
    assert.equal(inspect, 1, 'no tag was created');
  });
});
