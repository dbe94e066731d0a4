import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fleetBenchReport, type FleetBenchSamples, type FleetStepSample } from '../../src/bench/fleet-bench-report.js';
import { renderFleetBenchMarkdown, renderFleetBenchText } from '../../src/report/fleet-bench-report.js';

const step = (bytes: number, pullSeconds: number, firstRequestColdMs: number, firstRequestWarmMs: number): FleetStepSample => ({ bytes, pullSeconds, firstRequestColdMs, firstRequestWarmMs });

const samples: FleetBenchSamples = {
  rounds: 3,
  bandwidth: null,
  node: 'containerd 1.6.20, overlayfs',
  fleet: 'fleet.json',
  functions: ['a', 'b'],
  variants: [
    {
      variant: 'original',
      references: ['a:v1', 'b:v1'],
      imageBytes: [1000, 1010],
      layerBytes: [[990, 10], [990, 20]],
      rounds: [
        [step(1000, 8, 500, 300), step(10, 0.1, 400, 300)],
        [step(1000, 9, 600, 310), step(10, 0.2, 300, 320)],
        [step(1000, 7, 550, 290), step(10, 0.1, 350, 310)],
      ],
      updates: [[{ name: 'a', bytes: 12, seconds: 0.1 }], [{ name: 'a', bytes: 12, seconds: 0.3 }], [{ name: 'a', bytes: 12, seconds: 0.2 }]],
    },
    {
      variant: 'fleet',
      references: ['a:v1-slim', 'b:v1-slim'],
      imageBytes: [100, 101],
      layerBytes: [[98, 2], [98, 3]],
      rounds: [
        [step(100, 1, 500, 300), step(1, 0.05, 300, 300)],
        [step(100, 1.2, 500, 300), step(1, 0.05, 300, 300)],
        [step(100, 0.8, 500, 300), step(1, 0.05, 300, 300)],
      ],
      updates: [[{ name: 'a', bytes: 2, seconds: 0.01 }], [{ name: 'a', bytes: 2, seconds: 0.02 }], [{ name: 'a', bytes: 2, seconds: 0.03 }]],
    },
  ],
};

describe('fleet bench report', () => {
  test('medians per function, totals over the sequence, ratios from the same run', () => {
    const report = fleetBenchReport(samples);
    const [original, fleet] = report.variants;
    assert.equal(original!.steps[0]!.coldStart.median, 8.5);
    assert.equal(original!.steps[1]!.pulledBytes, 10);
    assert.deepEqual(original!.steps[1]!.layerBytes, [990, 20]);
    assert.deepEqual(original!.totals, { pulledBytes: 1010, imageBytes: 2010, coldStartSeconds: 9, laterColdStartSeconds: 0.5, laterPulledBytes: 10 });
    assert.equal(fleet!.steps[1]!.coldOverWarm, 1.167);
    assert.deepEqual(fleet!.updates, [{ name: 'a', bytes: 2, seconds: { median: 0.02, min: 0.01, max: 0.03, samples: [0.01, 0.02, 0.03] } }]);
    assert.equal(report.ratios.pulledBytesVsOriginal, 0.1);
    assert.equal(report.ratios.pulledBytesVsSingle, null, 'no per-image variant, no ratio');
    assert.equal(report.ratios.coldStartVsOriginal, 0.206);
  });

  test('text and Markdown show every function in turn and the update', () => {
    const report = fleetBenchReport(samples);
    const text = renderFleetBenchText(report);
    assert.match(text, /2 functions started in turn on one node over loopback \(containerd 1\.6\.20, overlayfs\), median of 3: fleet \/ originals 0\.10× bytes/);
    assert.match(text, /slim fleet \(each function on a node that already ran the ones above it\)/);
    assert.match(text, /2 +b +101 B +1 B +0\.05 s +0\.35 s +300 ms +1\.17×/);
    assert.match(text, /slim fleet +a +2 B/);
    const md = renderFleetBenchMarkdown(report);
    assert.match(md, /^### slim bench --fleet/);
    assert.match(md, /\| slim fleet \| 101 B \| 1 B \|/);
  });
});
