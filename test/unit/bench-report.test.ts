import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { metricsOf, renderBenchMarkdown, renderBenchText, type BenchReport, type ImageBench, type Role } from '../../src/bench/bench-report.js';
import { ratio, stat } from '../../src/bench/stats.js';
import { checkThresholds, parseThreshold, type Metric } from '../../src/bench/thresholds.js';
import { benchCommand, type BenchCommandOptions } from '../../src/commands/bench.js';
import { SlimError } from '../../src/errors.js';

// ---------------------------------------------------------------------------------------------
// Synthetic reports

function imageBench(role: Role, overrides: Partial<ImageBench> = {}): ImageBench {
  const base: ImageBench =
    role === 'original'
      ? {
          role,
          reference: 'app:1',
          layers: 12,
          compressedBytes: 123_456_789, // 123 MB
          pull: stat([4, 5, 6]),
          pulledBytes: 123_456_789,
          firstRequestCold: stat([800, 900, 1000]),
          firstRequestWarm: stat([40, 50, 60]),
          coldStart: stat([4.8, 5.9, 7]),
          update: { from: 'app:0', bytes: 50_000_000, seconds: stat([2, 3]) },
        }
      : {
          role,
          reference: 'app:1-slim',
          layers: 3,
          compressedBytes: 23_456_789, // 23.5 MB
          pull: stat([1, 1.2, 1.5]),
          pulledBytes: 23_456_789,
          firstRequestCold: stat([300, 350, 400]),
          firstRequestWarm: stat([20, 25, 30]),
          coldStart: stat([1.5, 1.7, 2]),
          update: { from: 'app:0-slim', bytes: 1_000_000, seconds: stat([0.2, 0.3]) },
        };
  return { ...base, ...overrides };
}

/** A report as runBench builds it: ratios computed from the images given. */
function benchReport(images: Partial<Record<Role, ImageBench>>, overrides: Partial<BenchReport> = {}): BenchReport {
  const { original, slim } = images;
  return {
    schemaVersion: 1,
    rounds: 3,
    warmRounds: 3,
    bandwidth: null,
    node: 'dockerd 20.10.24, overlay2',
    recording: 'rec.json',
    images,
    ratios: {
      compressedBytes: ratio(slim?.compressedBytes, original?.compressedBytes),
      pull: ratio(slim?.pull.median, original?.pull.median),
      coldStart: ratio(slim?.coldStart.median, original?.coldStart.median),
      firstRequestWarm: ratio(slim?.firstRequestWarm.median, original?.firstRequestWarm.median),
      updateBytes: ratio(slim?.update?.bytes, original?.update?.bytes),
    },
    baseline: null,
    thresholds: [],
    timings: { totalMs: 61_000, phases: [{ phase: 'pushing', ms: 9_000 }, { phase: 'cold rounds', ms: 40_000 }] },
    ...overrides,
  };
}

const both = () => benchReport({ original: imageBench('original'), slim: imageBench('slim') });

function metrics(values: Partial<Record<Metric, number | null>>): Record<Metric, number | null> {
  return { size: null, pull: null, coldstart: null, warmstart: null, update: null, ...values };
}

/** The cells of the text-table line that starts with `label` (cells are separated by at least two spaces). */
function textRow(text: string, label: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(`${label}  `));
  assert.ok(line, `no row "${label}" in:\n${text}`);
  return line.split(/ {2,}/);
}

function markdownRow(markdown: string, label: string): string[] {
  const line = markdown.split('\n').find((l) => l.startsWith(`| ${label} |`));
  assert.ok(line, `no row "${label}" in:\n${markdown}`);
  return line.slice(2, -2).split(' | ');
}

// ---------------------------------------------------------------------------------------------

describe('stat', () => {
  test('odd count: the middle value, min and max, samples kept in their order', () => {
    assert.deepEqual(stat([5, 1, 3]), { median: 3, min: 1, max: 5, samples: [5, 1, 3] });
  });

  test('even count: the mean of the two middle values', () => {
    assert.deepEqual(stat([4, 1, 3, 10]), { median: 3.5, min: 1, max: 10, samples: [4, 1, 3, 10] });
  });

  test('sorts numerically, not as strings', () => {
    const s = stat([10, 9, 100]);
    assert.equal(s.median, 10);
    assert.equal(s.min, 9);
    assert.equal(s.max, 100);
  });

  test('one sample is median, min and max', () => {
    assert.deepEqual(stat([2.5]), { median: 2.5, min: 2.5, max: 2.5, samples: [2.5] });
  });

  test('does not reorder the caller’s array', () => {
    const samples = [3, 1, 2];
    stat(samples);
    assert.deepEqual(samples, [3, 1, 2]);
  });

  test('empty: zeros and no samples', () => {
    assert.deepEqual(stat([]), { median: 0, min: 0, max: 0, samples: [] });
  });
});

describe('ratio', () => {
  test('slim / original rounded to 3 decimals', () => {
    assert.equal(ratio(1, 3), 0.333);
    assert.equal(ratio(2, 3), 0.667);
    assert.equal(ratio(50, 100), 0.5);
    assert.equal(ratio(3, 2), 1.5);
    assert.equal(ratio(1_000_500, 1_000_000), 1.001);
  });

  test('null when a side is missing or the original is zero', () => {
    assert.equal(ratio(undefined, 10), null);
    assert.equal(ratio(10, undefined), null);
    assert.equal(ratio(undefined, undefined), null);
    assert.equal(ratio(10, 0), null);
    assert.equal(ratio(0, 0), null);
  });
});

describe('parseThreshold', () => {
  test('size>+5%', () => {
    assert.deepEqual(parseThreshold('size>+5%'), { metric: 'size', maxIncrease: 0.05, text: 'size>+5%' });
  });

  test('coldstart>+10%', () => {
    assert.deepEqual(parseThreshold('coldstart>+10%'), { metric: 'coldstart', maxIncrease: 0.1, text: 'coldstart>+10%' });
  });

  test('spaces, no plus sign and a decimal: "pull > 2.5%"', () => {
    const t = parseThreshold(' pull > 2.5% ');
    assert.equal(t.metric, 'pull');
    assert.equal(t.maxIncrease, 0.025);
    assert.equal(t.text, 'pull > 2.5%');
  });

  test('every metric is accepted', () => {
    for (const metric of ['size', 'pull', 'coldstart', 'warmstart', 'update']) assert.equal(parseThreshold(`${metric}>+1%`).metric, metric);
  });

  for (const text of ['latency>+5%', 'size>5', 'size<+5%', 'size>-5%', 'size>+five%', 'size+5%', '>+5%', 'size>+5%%', '', 'Size>+5%']) {
    test(`rejected as a usage error (exit 2): ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseThreshold(text),
        (err: unknown) => {
          assert.ok(err instanceof SlimError, `expected a SlimError, got ${String(err)}`);
          assert.equal(err.exitCode, 2);
          assert.match(err.message, /^--fail-if .*: use METRIC>\+N% with METRIC one of size, pull, coldstart, warmstart, update$/);
          return true;
        },
      );
    });
  }
});

describe('checkThresholds', () => {
  const size5 = parseThreshold('size>+5%');
  const cold10 = parseThreshold('coldstart>+10%');

  test('passes below the limit, and when the metric shrinks', () => {
    const [grown, shrunk] = checkThresholds([size5, cold10], metrics({ size: 1040, coldstart: 1.5 }), metrics({ size: 1000, coldstart: 2 }));
    assert.equal(grown!.failed, false);
    assert.ok(Math.abs(grown!.change! - 0.04) < 1e-12);
    assert.equal(grown!.baseline, 1000);
    assert.equal(grown!.current, 1040);
    assert.equal(grown!.threshold, size5);
    assert.equal(shrunk!.failed, false);
    assert.equal(shrunk!.change, -0.25);
  });

  test('fails above the limit', () => {
    const [r] = checkThresholds([size5], metrics({ size: 1060 }), metrics({ size: 1000 }));
    assert.equal(r!.failed, true);
    assert.ok(Math.abs(r!.change! - 0.06) < 1e-12);
  });

  test('exactly at the limit passes (integer byte counts)', () => {
    const results = checkThresholds([size5, parseThreshold('update>+10%'), parseThreshold('size>+2.5%')], metrics({ size: 1050, update: 770 }), metrics({ size: 1000, update: 700 }));
    assert.deepEqual(
      results.map((r) => r.failed),
      [false, false, true],
    );
    const [atLimit] = checkThresholds([parseThreshold('size>+2.5%')], metrics({ size: 1025 }), metrics({ size: 1000 }));
    assert.equal(atLimit!.failed, false);
  });

  test(
    'exactly at the limit passes (seconds: 2.00 s → 2.20 s against +10%)',
    () => {
      const [r] = checkThresholds([cold10], metrics({ coldstart: 2.2 }), metrics({ coldstart: 2 }));
      assert.equal(r!.failed, false);
    },
  );

  test('a metric missing from the baseline fails, with change null', () => {
    const [r] = checkThresholds([size5], metrics({ size: 1000 }), metrics({}));
    assert.deepEqual(r, { threshold: size5, baseline: null, current: 1000, change: null, failed: true });
  });

  test('a metric missing from this run fails, with change null', () => {
    const [r] = checkThresholds([size5], metrics({}), metrics({ size: 1000 }));
    assert.deepEqual(r, { threshold: size5, baseline: 1000, current: null, change: null, failed: true });
  });

  test('a zero baseline cannot give a relative change: fails, with change null', () => {
    const [r] = checkThresholds([size5], metrics({ size: 10 }), metrics({ size: 0 }));
    assert.equal(r!.change, null);
    assert.equal(r!.failed, true);
  });

  test('one result per rule, in order; none without rules', () => {
    assert.deepEqual(checkThresholds([], metrics({ size: 1 }), metrics({ size: 1 })), []);
    const results = checkThresholds([cold10, size5], metrics({ size: 2000, coldstart: 1 }), metrics({ size: 1000, coldstart: 1 }));
    assert.deepEqual(
      results.map((r) => [r.threshold.metric, r.failed]),
      [
        ['coldstart', false],
        ['size', true],
      ],
    );
  });
});

describe('metricsOf', () => {
  test('takes the slim image’s figures when there is one', () => {
    assert.deepEqual(metricsOf(both()), { size: 23_456_789, pull: 1.2, coldstart: 1.7, warmstart: 25, update: 1_000_000 });
  });

  test('falls back to the original image', () => {
    assert.deepEqual(metricsOf({ images: { original: imageBench('original') } }), { size: 123_456_789, pull: 5, coldstart: 5.9, warmstart: 50, update: 50_000_000 });
  });

  test('update is null when the image has no update measurement (no fallback to the other image)', () => {
    const m = metricsOf({ images: { original: imageBench('original'), slim: imageBench('slim', { update: null }) } });
    assert.equal(m.update, null);
    assert.equal(m.size, 23_456_789);
  });

  test('all null without images', () => {
    assert.deepEqual(metricsOf({ images: {} }), metrics({}));
  });
});

describe('renderBenchText', () => {
  test('ends with where the bench spent its time', () => {
    assert.match(renderBenchText(both()), /^time 61\.0 s: pushing 9\.0 s, cold rounds 40\.0 s$/m);
    assert.match(renderBenchMarkdown(both()), /^- bench time 61\.0 s: pushing 9\.0 s, cold rounds 40\.0 s$/m);
  });

  test('summary line with both images, the cold start ratio, the link and the rounds', () => {
    const text = renderBenchText(both());
    assert.equal(text.split('\n')[0], 'slim: 123 MB → 23.5 MB, cold start 5.90 s → 1.70 s (0.29×) over loopback on dockerd 20.10.24, overlay2, median of 3');
    assert.ok(text.endsWith('\n'));
  });

  test('the summary names a shaped link', () => {
    const text = renderBenchText({ ...both(), bandwidth: '200mbit' });
    assert.match(text.split('\n')[0]!, / over a 200mbit link on dockerd 20\.10\.24, overlay2, median of 3$/);
  });

  test('the table: a column per image and slim/original', () => {
    const text = renderBenchText(both());
    const lines = text.split('\n');
    assert.deepEqual(lines[2]!.trim().split(/ {2,}/), ['original', 'slim', 'slim/original']);
    assert.match(lines[3]!, /^-+( +-+){3}$/);
    assert.deepEqual(textRow(text, 'compressed size'), ['compressed size', '123 MB', '23.5 MB', '0.19×']);
    assert.deepEqual(textRow(text, 'cold pull'), ['cold pull', '5.00 s (4.00–6.00)', '1.20 s (1.00–1.50)', '0.24×']);
    assert.deepEqual(textRow(text, 'first request, cold'), ['first request, cold', '900 ms (800–1000)', '350 ms (300–400)', '-']);
    assert.deepEqual(textRow(text, 'cold start (pull + first request)'), ['cold start (pull + first request)', '5.90 s (4.80–7.00)', '1.70 s (1.50–2.00)', '0.29×']);
    assert.deepEqual(textRow(text, 'first request, warm'), ['first request, warm', '50 ms (40–60)', '25 ms (20–30)', '0.50×']);
    assert.deepEqual(textRow(text, 'update after a code change'), ['update after a code change', '50 MB in 2.50 s (2.00–3.00)', '1 MB in 0.25 s (0.20–0.30)', '0.02×']);
    assert.equal(lines.length, 2 + 2 + 6 + 2 + 1, 'summary, blank, header, rule, six rows, blank, time, final newline');
    assert.doesNotMatch(text, /baseline|[✓✗]/);
  });

  test('a missing update shows "-", and so does its ratio', () => {
    const report = benchReport({ original: imageBench('original', { update: null }), slim: imageBench('slim', { update: null }) });
    assert.deepEqual(textRow(renderBenchText(report), 'update after a code change'), ['update after a code change', '-', '-', '-']);
  });

  test('with a baseline: a "vs baseline" column with signed percentages, "-" where there is none', () => {
    const report = {
      ...both(),
      baseline: { file: 'base.json', deltas: { size: 0.05, pull: -0.1, coldstart: null, warmstart: 0, update: -0.25 } },
    };
    const text = renderBenchText(report);
    assert.deepEqual(text.split('\n')[2]!.trim().split(/ {2,}/), ['original', 'slim', 'slim/original', 'vs baseline']);
    assert.equal(textRow(text, 'compressed size').at(-1), '+5.0%');
    assert.equal(textRow(text, 'cold pull').at(-1), '-10.0%');
    assert.equal(textRow(text, 'first request, cold').at(-1), '-', 'a row without a metric');
    assert.equal(textRow(text, 'cold start (pull + first request)').at(-1), '-', 'a null delta');
    assert.equal(textRow(text, 'first request, warm').at(-1), '+0.0%');
    assert.equal(textRow(text, 'update after a code change').at(-1), '-25.0%');
  });

  test('a delta missing from the deltas object shows "-"', () => {
    const text = renderBenchText({ ...both(), baseline: { file: 'base.json', deltas: { size: 0.123 } } });
    assert.equal(textRow(text, 'compressed size').at(-1), '+12.3%');
    assert.equal(textRow(text, 'cold pull').at(-1), '-');
  });

  test('threshold lines: ✓ for a pass, ✗ for a fail, ✗ naming where a figure is missing', () => {
    const thresholds = [
      ...checkThresholds([parseThreshold('size>+5%'), parseThreshold('coldstart > 10%')], metrics({ size: 1040, coldstart: 2.4 }), metrics({ size: 1000, coldstart: 2 })),
      ...checkThresholds([parseThreshold('update>+1%')], metrics({ update: 5 }), metrics({})),
      ...checkThresholds([parseThreshold('warmstart>+1%')], metrics({}), metrics({ warmstart: 20 })),
    ];
    const text = renderBenchText({ ...both(), baseline: { file: 'base.json', deltas: {} }, thresholds });
    const tail = text.trimEnd().split('\n').slice(-7, -2);
    assert.deepEqual(tail, [
      '',
      '✓ size>+5%: +4.0%',
      '✗ coldstart > 10%: +20.0%',
      '✗ update>+1%: no update figure in the baseline',
      '✗ warmstart>+1%: no warmstart figure in this run',
    ]);
  });

  test(
    'a zero baseline figure is not reported as missing from this run',
    () => {
      const thresholds = checkThresholds([parseThreshold('update>+5%')], metrics({ update: 4096 }), metrics({ update: 0 }));
      const text = renderBenchText({ ...both(), baseline: { file: 'base.json', deltas: { update: null } }, thresholds });
      const line = text.split('\n').find((l) => l.includes('update>+5%'));
      assert.ok(line?.startsWith('✗ '));
      assert.doesNotMatch(line ?? '', /in this run/);
    },
  );

  test('a single image: its reference in the summary, no ratio in it, no slim/original column', () => {
    const report = benchReport({ original: imageBench('original') }, { bandwidth: '50mbit', rounds: 5 });
    const text = renderBenchText(report);
    const lines = text.split('\n');
    assert.equal(lines[0], 'app:1: 123 MB, cold start 5.90 s over a 50mbit link on dockerd 20.10.24, overlay2, median of 5');
    assert.deepEqual(lines[2]!.trim().split(/ {2,}/), ['original']);
    assert.deepEqual(textRow(text, 'compressed size'), ['compressed size', '123 MB']);
    assert.deepEqual(textRow(text, 'cold pull'), ['cold pull', '5.00 s (4.00–6.00)']);
    assert.doesNotMatch(text, /slim|×/);
  });

  test('a single image with a baseline: image column then vs baseline', () => {
    const report = benchReport({ original: imageBench('original') }, { baseline: { file: 'b.json', deltas: { size: -0.5 } } });
    const text = renderBenchText(report);
    assert.deepEqual(text.split('\n')[2]!.trim().split(/ {2,}/), ['original', 'vs baseline']);
    assert.deepEqual(textRow(text, 'compressed size'), ['compressed size', '123 MB', '-50.0%']);
  });
});

describe('renderBenchMarkdown', () => {
  const passing = () => checkThresholds([parseThreshold('size>+5%')], metrics({ size: 1000 }), metrics({ size: 1000 }));
  const failing = () => checkThresholds([parseThreshold('size>+5%')], metrics({ size: 2000 }), metrics({ size: 1000 }));

  test('heading and ✅ summary when no threshold failed (also with none at all)', () => {
    for (const thresholds of [[], passing()]) {
      const lines = renderBenchMarkdown({ ...both(), thresholds }).split('\n');
      assert.equal(lines[0], '### slim bench');
      assert.equal(lines[2], '✅ slim: 123 MB → 23.5 MB, cold start 5.90 s → 1.70 s (0.29×) over loopback on dockerd 20.10.24, overlay2, median of 3');
    }
  });

  test('❌ summary when a threshold failed', () => {
    const md = renderBenchMarkdown({ ...both(), baseline: { file: 'base.json', deltas: {} }, thresholds: [...passing(), ...failing()] });
    const lines = md.split('\n');
    assert.match(lines[2]!, /^❌ slim: 123 MB → 23\.5 MB/);
    assert.ok(lines.includes('- ✓ size>+5%: +0.0%'));
    assert.ok(lines.includes('- ✗ size>+5%: +100.0%'));
    assert.doesNotMatch(md, /✅/);
  });

  test('a GitHub table: header, alignment rule, one row per measurement', () => {
    const md = renderBenchMarkdown(both());
    const lines = md.split('\n');
    const header = lines.indexOf('|  | original | slim | slim/original |');
    assert.ok(header > 0, md);
    assert.equal(lines[header + 1], '|---|---:|---:|---:|');
    assert.deepEqual(markdownRow(md, 'compressed size'), ['compressed size', '123 MB', '23.5 MB', '0.19×']);
    assert.deepEqual(markdownRow(md, 'cold start (pull + first request)'), ['cold start (pull + first request)', '5.90 s (4.80–7.00)', '1.70 s (1.50–2.00)', '0.29×']);
    assert.equal(lines.slice(header + 2).filter((l) => l.startsWith('| ')).length, 6);
  });

  test('the table gets a vs baseline column with a baseline', () => {
    const md = renderBenchMarkdown({ ...both(), baseline: { file: 'base.json', deltas: { size: 0.02 } } });
    assert.ok(md.includes('\n|  | original | slim | slim/original | vs baseline |\n|---|---:|---:|---:|---:|\n'));
    assert.equal(markdownRow(md, 'compressed size').at(-1), '+2.0%');
  });

  test('a mermaid xychart-beta block of the two cold starts', () => {
    const md = renderBenchMarkdown(both());
    const lines = md.split('\n');
    const start = lines.indexOf('```mermaid');
    assert.ok(start > 0, md);
    assert.deepEqual(lines.slice(start, start + 7), [
      '```mermaid',
      'xychart-beta',
      '  title "Cold start, seconds (pull + first request)"',
      '  x-axis [original, slim]',
      '  y-axis "seconds" 0 --> 7.08',
      '  bar [5.9, 1.7]',
      '```',
    ]);
  });

  test('no mermaid block and no ratio column for a single image', () => {
    const md = renderBenchMarkdown(benchReport({ original: imageBench('original') }));
    assert.doesNotMatch(md, /mermaid|xychart/);
    assert.ok(md.includes('\n|  | original |\n|---|---:|\n'));
    assert.match(md.split('\n')[2]!, /^✅ app:1: 123 MB, cold start 5\.90 s over loopback on dockerd 20\.10\.24, overlay2, median of 3$/);
  });

  test('a collapsed <details> section: rounds, warm starts with their samples, link, recording, each image with its pull samples, the baseline', () => {
    const md = renderBenchMarkdown({ ...both(), bandwidth: '200mbit', baseline: { file: 'base.json', deltas: {} } });
    const lines = md.split('\n');
    const open = lines.indexOf('<details><summary>Details</summary>');
    const close = lines.indexOf('</details>');
    assert.ok(open > 0 && close > open, md);
    const details = lines.slice(open + 1, close).filter(Boolean);
    assert.deepEqual(details, [
      "- rounds: 3, alternating images; each cold pull on an engine holding none of the image's layers",
      '- warm starts: 3 per image with every image cached, alternating which image starts first; warm samples original 40, 50, 60 ms; slim 20, 25, 30 ms',
      '- registry link: 200mbit',
      '- recording: `rec.json`',
      '- original: `app:1`, 12 layers, pull samples 4.00, 5.00, 6.00 s',
      '- slim: `app:1-slim`, 3 layers, pull samples 1.00, 1.20, 1.50 s',
      '- baseline: `base.json`',
      '- bench time 61.0 s: pushing 9.0 s, cold rounds 40.0 s',
    ]);
    assert.equal(lines.at(-1), '', 'ends with a newline');
    assert.equal(lines.at(-2), '</details>');
  });

  test('details without a shaped link or a baseline', () => {
    const md = renderBenchMarkdown(benchReport({ original: imageBench('original') }));
    assert.ok(md.includes('\n- registry link: loopback, unshaped\n'));
    assert.doesNotMatch(md, /- baseline:|- slim:/);
  });
});

// ---------------------------------------------------------------------------------------------
// benchCommand: argument checks that happen before any registry, engine or namespace exists

describe('benchCommand input validation', () => {
  /**
   * A guard: every option set here names an external registry (connectRegistry does nothing) or a
   * bandwidth (logged before the link is shaped), so if validation let a case through, runBench's first
   * log line throws this instead of starting a registry, an engine or a network namespace.
   */
  const REACHED = 'reached the bench: validation let this through';
  let dir: string;
  let recordingFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slim-bench-test-'));
    recordingFile = join(dir, 'recording.json');
    await writeFile(recordingFile, JSON.stringify({ version: 1, steps: [{ request: { method: 'GET', path: '/' } }] }));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function options(overrides: Partial<BenchCommandOptions> = {}): BenchCommandOptions {
    return {
      recordingFile,
      node: 'docker',
      rounds: 1,
      warmRounds: 1,
      registry: '127.0.0.1:1',
      thresholds: [],
      log: () => {
        throw new Error(REACHED);
      },
      ...overrides,
    };
  }

  async function rejects(promise: Promise<unknown>, exitCode: number, message: RegExp): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof SlimError, `expected a SlimError, got ${String(err)}`);
      assert.equal(err.exitCode, exitCode, err.message);
      assert.match(err.message, message);
      return true;
    });
  }

  async function baselineFile(name: string, content: string): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, content);
    return file;
  }

  test('the guard: valid inputs get past validation (and stop at the first log line)', async () => {
    const baseline = await baselineFile('ok.json', JSON.stringify(benchReport({ original: imageBench('original') })));
    await assert.rejects(
      benchCommand(['example.invalid/app:1', 'example.invalid/app:1-slim'], options({ baselineFile: baseline, thresholds: [parseThreshold('size>+5%')] })),
      new RegExp(REACHED),
    );
  });

  test('no image: usage error', async () => {
    await rejects(benchCommand([], options()), 2, /give ORIGINAL and SLIM, or one image/);
  });

  test('more than two images: usage error', async () => {
    await rejects(benchCommand(['example.invalid/a:1', 'example.invalid/b:1', 'example.invalid/c:1'], options()), 2, /give ORIGINAL and SLIM, or one image/);
  });

  for (const rate of ['200mbps', 'fast', '200', '1.5 gbit', '-5mbit']) {
    test(`a bad --bandwidth rate is a usage error: ${rate}`, async () => {
      await rejects(benchCommand(['example.invalid/app:1'], options({ bandwidth: rate, registry: undefined })), 2, new RegExp(`--bandwidth ${rate.replace('.', '\\.')}: use a tc rate`));
    });
  }

  test('--bandwidth with --registry: usage error', async () => {
    await rejects(benchCommand(['example.invalid/app:1'], options({ bandwidth: '200mbit', registry: '127.0.0.1:5000' })), 2, /cannot be combined with --registry/);
  });

  test('--fail-if without --baseline: usage error', async () => {
    await rejects(benchCommand(['example.invalid/app:1'], options({ thresholds: [parseThreshold('size>+5%')] })), 2, /--fail-if needs --baseline FILE\.json/);
  });

  test('a baseline that cannot be read: input error', async () => {
    await rejects(benchCommand(['example.invalid/app:1'], options({ baselineFile: join(dir, 'missing.json') })), 3, /^cannot read baseline .*missing\.json: ENOENT$/);
  });

  test('a baseline that is not JSON: input error', async () => {
    const file = await baselineFile('not-json.json', 'size: 5\n');
    await rejects(benchCommand(['example.invalid/app:1'], options({ baselineFile: file })), 3, /not-json\.json is not a slim bench report/);
  });

  for (const [name, content] of [
    ['other JSON', '{"hello": "world"}'],
    ['null', 'null'],
    ['an array', '[]'],
    ['another schema version', JSON.stringify({ ...benchReport({ original: imageBench('original') }), schemaVersion: 2 })],
    ['images not an object', JSON.stringify({ schemaVersion: 1, images: 'app:1' })],
  ] as const) {
    test(`a baseline that is not a bench report (${name}): input error`, async () => {
      const file = await baselineFile('other.json', content);
      await rejects(benchCommand(['example.invalid/app:1'], options({ baselineFile: file })), 3, /other\.json is not a slim bench report: /);
    });
  }

  test(
    'a baseline with "images": null is rejected before the bench',
    async () => {
      const file = await baselineFile('null-images.json', JSON.stringify({ schemaVersion: 1, images: null }));
      await rejects(benchCommand(['example.invalid/app:1'], options({ baselineFile: file })), 3, /is not a slim bench report/);
    },
  );

  test('an invalid recording is an input error before the bench', async () => {
    const bad = await baselineFile('bad-recording.json', JSON.stringify({ steps: [] }));
    await rejects(benchCommand(['example.invalid/app:1'], options({ recordingFile: bad })), 3, /steps must hold at least one request/);
  });

  test('an image given as a file that is not an image is an input error before the bench', async () => {
    await rejects(benchCommand([recordingFile], options()), 3, /is not a tar archive|is not an image/);
  });
});
