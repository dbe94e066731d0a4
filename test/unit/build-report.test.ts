import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attackSurface } from '../../src/analyze/attack-surface.js';
import type { BuildReport } from '../../src/build/report.js';
import { renderBuildMarkdown, renderBuildText } from '../../src/report/build-report.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

const report: BuildReport = {
  schemaVersion: 1,
  original: { reference: 'app:v1', id: digest('a'), visibleBytes: 400e6, layerBytes: 410e6, compressedBytes: 150e6, layers: 4 },
  slim: {
    id: digest('b'),
    tag: 'app:v1-slim',
    outputs: [],
    fileBytes: 90e6,
    tarBytes: 91e6,
    compressedBytes: 30e6,
    compression: 'gzip',
    files: 300,
    layers: [{ group: 'system', title: 'system and runtime', files: 300, bytes: 90e6, tarBytes: 91e6, compressedBytes: 30e6, diffId: digest('c'), digest: digest('d') }],
  },
  tracedFloorBytes: 89e6,
  floorRatio: 90 / 89,
  verification: { verified: true, ok: true, requests: 7, differing: 0, report: 'all 7 requests match\n', original: 'traced run' },
  seccomp: null,
  attackSurface: {
    original: attackSurface([
      { path: '/usr/bin/dash', type: 'file', mode: 0o755 },
      { path: '/usr/bin/sh', type: 'symlink', mode: 0o777 },
      { path: '/usr/bin/su', type: 'file', mode: 0o4755 },
      { path: '/usr/bin/node', type: 'file', mode: 0o755 },
    ]),
    slim: attackSurface([
      { path: '/usr/bin/dash', type: 'file', mode: 0o755 },
      { path: '/usr/bin/node', type: 'file', mode: 0o755 },
    ]),
  },
  jvm: null,
  warnings: [],
  timings: { totalMs: 12_340, phases: [{ phase: 'tracing', ms: 4_700 }, { phase: 'verifying', ms: 2_060 }] },
};

describe('build report', () => {
  test('the text report has an attack-surface table naming what is left', () => {
    const text = renderBuildText(report);
    const section = text.slice(text.indexOf('Attack surface'));
    assert.match(section, /^shells\s+2\s+1\s+\/usr\/bin\/dash$/m);
    assert.match(section, /^setuid binaries\s+1\s+0\s*$/m);
    assert.match(section, /^executables\s+3\s+2\s*$/m);
  });

  test('both reports say where the time went, phase by phase', () => {
    assert.match(renderBuildText(report), /^time 12\.3 s: tracing 4\.7 s, verifying 2\.1 s$/m);
    assert.match(renderBuildMarkdown(report), /built in 12\.3 s: tracing 4\.7 s, verifying 2\.1 s/);
  });

  test('the markdown report folds the attack surface into a details block', () => {
    const markdown = renderBuildMarkdown(report);
    assert.match(markdown, /<details><summary>Attack surface<\/summary>/);
    assert.match(markdown, /\| shells \| +2 \| +1 \| \/usr\/bin\/dash +\|/);
  });
});
