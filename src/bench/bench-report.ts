import prettyBytes from 'pretty-bytes';
import { markdownTable, textTable, type Column } from '../report/text-table.js';
import type { Stat } from './stats.js';
import type { Metric, ThresholdResult } from './thresholds.js';
import { renderTimings, type Timings } from '../timings.js';

export type Role = 'original' | 'slim';

export interface ImageBench {
  role: Role;
  reference: string;
  layers: number;
  /** bytes a cold pull downloads: the compressed layers in the registry */
  compressedBytes: number;
  /** seconds of `docker pull` with no layer of the image present */
  pull: Stat;
  /** compressed bytes the cold pull brought onto the node (median); on the stargz node eStargz layers come later, as read */
  pulledBytes: number;
  /** milliseconds from container create to the first successful answer of the recording's first request */
  firstRequestCold: Stat;
  firstRequestWarm: Stat;
  /** seconds: pull + first request, right after the pull */
  coldStart: Stat;
  /** pulling this image's V2 while V1 is present (--update-from) */
  update: { from: string; bytes: number; seconds: Stat } | null;
}

export interface BenchReport {
  schemaVersion: 1;
  rounds: number;
  /** warm starts per image, in pairs of alternating order */
  warmRounds: number;
  bandwidth: string | null;
  /** the node the images were pulled and run on */
  node: string;
  recording: string;
  images: Partial<Record<Role, ImageBench>>;
  /** slim / original from the same run (medians) */
  ratios: { compressedBytes: number | null; pull: number | null; coldStart: number | null; firstRequestWarm: number | null; updateBytes: number | null };
  baseline: { file: string; deltas: Partial<Record<Metric, number | null>> } | null;
  thresholds: ThresholdResult[];
  /** each phase's wall time */
  timings: Timings;
}

/** The figure each --fail-if metric compares: the slim image's when there is one, else the original's. */
export function metricsOf(report: Pick<BenchReport, 'images'>): Record<Metric, number | null> {
  const image = report.images.slim ?? report.images.original;
  return {
    size: image?.compressedBytes ?? null,
    pull: image?.pull.median ?? null,
    coldstart: image?.coldStart.median ?? null,
    warmstart: image?.firstRequestWarm.median ?? null,
    update: image?.update?.bytes ?? null,
  };
}

const seconds = (s: Stat) => `${s.median.toFixed(2)} s (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
const millis = (s: Stat) => `${Math.round(s.median)} ms (${Math.round(s.min)}–${Math.round(s.max)})`;
const times = (r: number | null) => (r === null ? '-' : `${r.toFixed(2)}×`);
const signed = (d: number | null | undefined) => (d === null || d === undefined ? '-' : `${d >= 0 ? '+' : ''}${(d * 100).toFixed(1)}%`);

interface Row {
  label: string;
  metric?: Metric;
  value: (b: ImageBench) => string;
  ratio: (r: BenchReport['ratios']) => number | null;
}

const ROWS: Row[] = [
  { label: 'compressed size', metric: 'size', value: (b) => prettyBytes(b.compressedBytes), ratio: (r) => r.compressedBytes },
  { label: 'cold pull', metric: 'pull', value: (b) => seconds(b.pull), ratio: (r) => r.pull },
  { label: 'first request, cold', value: (b) => millis(b.firstRequestCold), ratio: () => null },
  { label: 'cold start (pull + first request)', metric: 'coldstart', value: (b) => seconds(b.coldStart), ratio: (r) => r.coldStart },
  { label: 'first request, warm', metric: 'warmstart', value: (b) => millis(b.firstRequestWarm), ratio: (r) => r.firstRequestWarm },
  { label: 'update after a code change', metric: 'update', value: (b) => (b.update ? `${prettyBytes(b.update.bytes)} in ${seconds(b.update.seconds)}` : '-'), ratio: (r) => r.updateBytes },
];

function tableRows(report: BenchReport): { columns: Column[]; rows: string[][] } {
  const roles = (['original', 'slim'] as const).filter((r) => report.images[r]);
  const columns: Column[] = [{ header: '' }, ...roles.map((r) => ({ header: r, align: 'right' as const }))];
  if (roles.length === 2) columns.push({ header: 'slim/original', align: 'right' });
  if (report.baseline) columns.push({ header: 'vs baseline', align: 'right' });
  const rows = ROWS.map((row) => {
    const cells = [row.label, ...roles.map((r) => row.value(report.images[r]!))];
    if (roles.length === 2) cells.push(times(row.ratio(report.ratios)));
    if (report.baseline) cells.push(row.metric ? signed(report.baseline.deltas[row.metric]) : '-');
    return cells;
  });
  return { columns, rows };
}

function summary(report: BenchReport): string {
  const { original, slim } = report.images;
  const link = `${report.bandwidth ? ` over a ${report.bandwidth} link` : ' over loopback'} on ${report.node ?? 'dockerd'}`;
  if (original && slim) {
    return `slim: ${prettyBytes(original.compressedBytes)} → ${prettyBytes(slim.compressedBytes)}, cold start ${original.coldStart.median.toFixed(2)} s → ${slim.coldStart.median.toFixed(2)} s (${times(report.ratios.coldStart)})${link}, median of ${report.rounds}`;
  }
  const only = (slim ?? original)!;
  return `${only.reference}: ${prettyBytes(only.compressedBytes)}, cold start ${only.coldStart.median.toFixed(2)} s${link}, median of ${report.rounds}`;
}

function thresholdLines(report: BenchReport): string[] {
  return report.thresholds.map((t) =>
    t.change === null
      ? `✗ ${t.threshold.text}: ${
          t.baseline === null
            ? `no ${t.threshold.metric} figure in the baseline`
            : t.current === null
              ? `no ${t.threshold.metric} figure in this run`
              : `the baseline ${t.threshold.metric} is 0, no relative change`
        }`
      : `${t.failed ? '✗' : '✓'} ${t.threshold.text}: ${signed(t.change)}`,
  );
}

export function renderBenchText(report: BenchReport): string {
  const { columns, rows } = tableRows(report);
  const out = [summary(report), '', textTable(columns, rows)];
  if (report.thresholds.length) out.push('', ...thresholdLines(report));
  out.push('', `time ${renderTimings(report.timings)}`);
  return `${out.join('\n')}\n`;
}

function mermaid(report: BenchReport): string[] {
  const { original, slim } = report.images;
  if (!original || !slim) return [];
  const value = (s: Stat) => Number(s.median.toFixed(2));
  const top = Math.max(original.coldStart.median, slim.coldStart.median) * 1.2;
  return [
    '```mermaid',
    'xychart-beta',
    '  title "Cold start, seconds (pull + first request)"',
    '  x-axis [original, slim]',
    `  y-axis "seconds" 0 --> ${Number(top.toFixed(2))}`,
    `  bar [${value(original.coldStart)}, ${value(slim.coldStart)}]`,
    '```',
  ];
}

export function renderBenchMarkdown(report: BenchReport): string {
  const { columns, rows } = tableRows(report);
  const failed = report.thresholds.filter((t) => t.failed);
  const out = [`### slim bench`, '', `${failed.length ? '❌' : '✅'} ${summary(report)}`, '', markdownTable(columns, rows), '', ...mermaid(report)];
  if (report.thresholds.length) out.push('', ...thresholdLines(report).map((l) => `- ${l}`));
  out.push(
    '',
    '<details><summary>Details</summary>',
    '',
    `- rounds: ${report.rounds}, alternating images; each cold pull on an engine holding none of the image's layers`,
    `- warm starts: ${report.warmRounds} per image with every image cached, alternating which image starts first; warm samples ${(['original', 'slim'] as const).filter((r) => report.images[r]).map((r) => `${r} ${report.images[r]!.firstRequestWarm.samples.map((s) => Math.round(s)).join(', ')} ms`).join('; ')}`,
    `- registry link: ${report.bandwidth ?? 'loopback, unshaped'}`,
    `- recording: \`${report.recording}\``,
    ...(['original', 'slim'] as const).filter((r) => report.images[r]).map((r) => `- ${r}: \`${report.images[r]!.reference}\`, ${report.images[r]!.layers} layers, pull samples ${report.images[r]!.pull.samples.map((s) => s.toFixed(2)).join(', ')} s`),
    ...(report.baseline ? [`- baseline: \`${report.baseline.file}\``] : []),
    `- bench time ${renderTimings(report.timings)}`,
    '',
    '</details>',
  );
  return `${out.join('\n')}\n`;
}
