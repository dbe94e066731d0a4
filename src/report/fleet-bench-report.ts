import prettyBytes from 'pretty-bytes';
import type { FleetBenchReport, FleetBenchVariantReport, FleetVariant } from '../bench/fleet-bench-report.js';
import type { Stat } from '../bench/stats.js';
import { markdownTable, textTable, type Column } from './text-table.js';

const TITLES: Record<FleetVariant, string> = { original: 'originals', single: 'slim, image by image', fleet: 'slim fleet' };
const seconds = (s: Stat) => `${s.median.toFixed(2)} s`;
const millis = (s: Stat) => `${Math.round(s.median)} ms`;
const times = (r: number | null) => (r === null ? '-' : `${r.toFixed(2)}×`);

const STEP_COLUMNS: Column[] = [
  { header: '#', align: 'right' },
  { header: 'function' },
  { header: 'image', align: 'right' },
  { header: 'pulled', align: 'right' },
  { header: 'pull', align: 'right' },
  { header: 'cold start', align: 'right' },
  { header: 'warm first request', align: 'right' },
  { header: 'cold/warm', align: 'right' },
];

function stepRows(v: FleetBenchVariantReport): string[][] {
  const rows = v.steps.map((s, i) => [String(i + 1), s.name, prettyBytes(s.imageBytes), prettyBytes(s.pulledBytes), seconds(s.pull), seconds(s.coldStart), millis(s.firstRequestWarm), times(s.coldOverWarm)]);
  rows.push(['', 'all, in turn', prettyBytes(v.totals.imageBytes), prettyBytes(v.totals.pulledBytes), '', `${v.totals.coldStartSeconds.toFixed(2)} s`, '', '']);
  return rows;
}

const SUMMARY_COLUMNS: Column[] = [
  { header: '' },
  { header: 'pulled by the node', align: 'right' },
  { header: 'functions 2..N pulled', align: 'right' },
  { header: 'Σ cold starts', align: 'right' },
  { header: 'Σ cold starts 2..N', align: 'right' },
];

function summaryRows(r: FleetBenchReport): string[][] {
  return r.variants.map((v) => [TITLES[v.variant], prettyBytes(v.totals.pulledBytes), prettyBytes(v.totals.laterPulledBytes), `${v.totals.coldStartSeconds.toFixed(2)} s`, `${v.totals.laterColdStartSeconds.toFixed(2)} s`]);
}

const UPDATE_COLUMNS: Column[] = [{ header: '' }, { header: 'function' }, { header: 're-pulled', align: 'right' }, { header: 'in', align: 'right' }];

function updateRows(r: FleetBenchReport): string[][] {
  return r.variants.flatMap((v) => v.updates.map((u) => [TITLES[v.variant], u.name, prettyBytes(u.bytes), seconds(u.seconds)]));
}

function headline(r: FleetBenchReport): string {
  const link = `${r.bandwidth ? `a ${r.bandwidth} link` : 'loopback'} (${r.node})`;
  const parts = [`fleet / originals ${times(r.ratios.pulledBytesVsOriginal)} bytes, ${times(r.ratios.coldStartVsOriginal)} cold start`];
  if (r.ratios.pulledBytesVsSingle !== null) parts.push(`fleet / image by image ${times(r.ratios.pulledBytesVsSingle)} bytes, ${times(r.ratios.coldStartVsSingle)} cold start`);
  return `slim bench --fleet: ${r.functions.length} functions started in turn on one node over ${link}, median of ${r.rounds}: ${parts.join('; ')}`;
}

export function renderFleetBenchText(r: FleetBenchReport): string {
  const out = [headline(r), '', textTable(SUMMARY_COLUMNS, summaryRows(r))];
  for (const v of r.variants) out.push('', `${TITLES[v.variant]} (each function on a node that already ran the ones above it)`, textTable(STEP_COLUMNS, stepRows(v)));
  if (updateRows(r).length) out.push('', 'A code change: what a node running the previous fleet re-pulls', textTable(UPDATE_COLUMNS, updateRows(r)));
  return `${out.join('\n')}\n`;
}

export function renderFleetBenchMarkdown(r: FleetBenchReport): string {
  const out = ['### slim bench --fleet', '', headline(r), '', markdownTable(SUMMARY_COLUMNS, summaryRows(r))];
  for (const v of r.variants) out.push('', `<details><summary>${TITLES[v.variant]}, function by function</summary>`, '', markdownTable(STEP_COLUMNS, stepRows(v)), '', '</details>');
  if (updateRows(r).length) out.push('', '**A code change**: what a node running the previous fleet re-pulls', '', markdownTable(UPDATE_COLUMNS, updateRows(r)));
  return `${out.join('\n')}\n`;
}
