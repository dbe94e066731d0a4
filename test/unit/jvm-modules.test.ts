import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseClassLoadLog, localeOfResourceClass } from '../../src/jvm/class-load-log.js';
import { classLoadOptions, variableValue } from '../../src/jvm/class-load-run.js';
import { parseJdepsClassDeps } from '../../src/jvm/jdeps-output.js';
import { dpkgVersion, findJavaHomes, jdkPackageFor } from '../../src/jvm/java-home.js';
import { missingClassIn } from '../../src/jvm/missing-class.js';
import { chooseModules, releaseModules, releaseVersion } from '../../src/jvm/module-choice.js';

/**
 * One folder per case under test/unit/jvm-module-cases/:
 * - class-load.txt: what `-Xlog:class+load` wrote
 * - input.json: {"available": [...], "extra": [...], "jdeps": {"/jar/path": "FILE"}}, FILE holding `jdeps -verbose:class` output
 * - expected.json: {"modules": {name: text its why contains}, "locales": [...], "unavailable": [...],
 *   "jars": {jar: classes loaded from it}, "fromSharedArchive": N}; each key optional but modules (the exact list chosen)
 */
interface Expected {
  modules: Record<string, string>;
  locales?: string[];
  unavailable?: string[];
  jars?: Record<string, number>;
  /** lines whose class came from a CDS archive (recordClassLoads refuses such a log) */
  fromSharedArchive?: number;
}

const CASES = new URL('../../../test/unit/jvm-module-cases/', import.meta.url).pathname;

describe('the modules a jlink runtime is linked from', () => {
  for (const name of readdirSync(CASES).sort()) {
    test(name, () => {
      const dir = join(CASES, name);
      const input = JSON.parse(readFileSync(join(dir, 'input.json'), 'utf8')) as { available?: string[]; extra?: string[]; jdeps?: Record<string, string> };
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
      const log = parseClassLoadLog(readFileSync(join(dir, 'class-load.txt'), 'utf8'));
      const jdeps = new Map(Object.entries(input.jdeps ?? {}).map(([jar, file]) => [jar, parseJdepsClassDeps(readFileSync(join(dir, file), 'utf8'))]));
      const chosen = chooseModules({ log, jdeps, available: input.available ?? [], extra: input.extra ?? [] });
      assert.deepEqual(chosen.modules.map((m) => m.name), Object.keys(expected.modules).sort());
      for (const m of chosen.modules) assert.ok(m.why.includes(expected.modules[m.name]!), `${m.name}: ${m.why}`);
      if (expected.locales) assert.deepEqual(chosen.locales, expected.locales);
      assert.deepEqual(chosen.unavailable, expected.unavailable ?? []);
      if (expected.fromSharedArchive !== undefined) assert.equal(log.fromSharedArchive, expected.fromSharedArchive);
      if (expected.jars) assert.deepEqual(Object.fromEntries([...log.jars].map(([j, c]) => [j, c.size])), expected.jars);
    });
  }
  test('every case folder has its three files', () => {
    for (const name of readdirSync(CASES)) for (const f of ['class-load.txt', 'input.json', 'expected.json']) assert.ok(existsSync(join(CASES, name, f)), `${name}/${f}`);
  });
});

describe('JVM helpers', () => {
  test('locale of a CLDR resource class', () => {
    assert.equal(localeOfResourceClass('sun.text.resources.cldr.ext.FormatData_ja'), 'ja');
    assert.equal(localeOfResourceClass('sun.util.resources.cldr.ext.TimeZoneNames_zh_Hant_TW'), 'zh-Hant-TW');
    assert.equal(localeOfResourceClass('sun.text.resources.cldr.ext.FormatData_es_419'), 'es-419');
    assert.equal(localeOfResourceClass('sun.util.resources.cldr.provider.CLDRLocaleDataMetaInfo'), undefined);
    assert.equal(localeOfResourceClass('sun.util.locale.provider.LocaleDataMetaInfo_Impl'), undefined);
  });
  test('JAVA_TOOL_OPTIONS keeps what the function had, and the last variable of a name wins', () => {
    assert.equal(classLoadOptions(undefined), '-Xshare:off -Xlog:class+load=info:file=/slim-class-load/class-load-%p.log:tags:filecount=0');
    assert.match(classLoadOptions('-Xmx256m'), /^-Xmx256m -Xshare:off /);
    assert.equal(variableValue(['A=1', 'JAVA_TOOL_OPTIONS=-Xss1m', 'JAVA_TOOL_OPTIONS=-Xmx1g=x'], 'JAVA_TOOL_OPTIONS'), '-Xmx1g=x');
    assert.equal(variableValue(['JAVA_TOOL_OPTIONSX=1'], 'JAVA_TOOL_OPTIONS'), undefined);
  });
  test('a release file', () => {
    const release = 'IMPLEMENTOR="Debian"\nJAVA_VERSION="17.0.15"\nMODULES="java.base java.logging jdk.httpserver"\n';
    assert.deepEqual(releaseModules(release), ['java.base', 'java.logging', 'jdk.httpserver']);
    assert.equal(releaseVersion(release), '17.0.15');
    assert.deepEqual(releaseModules('JAVA_VERSION="17"\n'), []);
  });
  test('java homes among the kept paths', () => {
    const j = '/usr/lib/jvm/java-17-openjdk-amd64';
    const present = new Set([`${j}/release`, `${j}/bin/java`, '/opt/other/release']);
    assert.deepEqual(findJavaHomes([`${j}/lib/modules`, '/opt/other/lib/modules', '/srv/lib/modules.txt'], (p) => present.has(p)), [{ path: j, modules: `${j}/lib/modules` }]);
  });
  test("Debian's JDK for a JRE, and a package's version", () => {
    assert.equal(jdkPackageFor('openjdk-17-jre-headless'), 'openjdk-17-jdk-headless');
    assert.equal(jdkPackageFor('openjdk-21-jre'), 'openjdk-21-jdk-headless');
    assert.equal(jdkPackageFor('temurin-17-jre'), undefined);
    const status = [
      'Package: openjdk-17-jre\nStatus: deinstall ok config-files\nVersion: 17.0.1-1',
      'Package: openjdk-17-jre-headless\nStatus: install ok installed\nArchitecture: amd64\nVersion: 17.0.15+6-1~deb12u1',
    ].join('\n\n');
    assert.equal(dpkgVersion(status, 'openjdk-17-jre-headless'), '17.0.15+6-1~deb12u1');
    assert.equal(dpkgVersion(status, 'openjdk-17-jre'), undefined);
  });
  test('the class a failed JVM run names', () => {
    assert.equal(missingClassIn(['ok', '{"error":"internal","message":"java.lang.NoClassDefFoundError: java/sql/Date"}']), 'java.sql.Date');
    assert.equal(missingClassIn(['Caused by: java.lang.ClassNotFoundException: sun.security.ec.SunEC']), 'sun.security.ec.SunEC');
    assert.equal(missingClassIn(['java.lang.module.FindException: Module jdk.httpserver not found']), 'module jdk.httpserver');
    assert.equal(missingClassIn(['500 Internal Server Error', 'NullPointerException']), undefined);
  });
});

test("a run's extra variables replace the function's own of the same name", async () => {
  const { replaceVariables } = await import('../../src/docker/function-container.js');
  assert.deepEqual(replaceVariables(['PORT=9000', 'JAVA_TOOL_OPTIONS=-Xmx1g', 'A=b=c'], ['JAVA_TOOL_OPTIONS=-Xshare:off', 'NEW=1']), ['PORT=9000', 'A=b=c', 'JAVA_TOOL_OPTIONS=-Xshare:off', 'NEW=1']);
});

test("a failed verification of a jlink'd runtime names the class it lacks, else leaves the error to the ordinary one", async () => {
  const { jlinkVerificationError } = await import('../../src/jvm/jlink-report.js');
  const request = { name: 'GET /report', method: 'GET', path: '/report', headers: {} } as never;
  const failure = (slim: string) => ({
    profileOnly: false,
    result: { ok: false, report: '✗ GET /report\n', requests: [{ request, differences: [{ kind: 'body' as const, detail: 'body differs', original: '{"ok":1}', slim }], originalMs: 1, slimMs: 1 }], original: 'own run' as const },
  });
  const err = jlinkVerificationError(failure('{"error":"internal","message":"java.lang.NoClassDefFoundError: java/sql/Timestamp"}'), 'the slim image was removed');
  assert.ok(err);
  assert.match(err.message, /lacks class java\.sql\.Timestamp, which the class-load run did not load/);
  assert.match(err.message, /the slim image was removed$/);
  assert.match(err.hint!, /--jvm-add-modules/);
  assert.equal(jlinkVerificationError(failure('{"ok":2}'), 'x'), undefined);
});
