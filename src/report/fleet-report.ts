import prettyBytes from 'pretty-bytes';
import type { FleetFunctionReport, FleetReport } from '../fleet/fleet-report.js';
import { shortDigest } from '../image/layer-decoder.js';
import { markdownTable, textTable, type Column } from './text-table.js';

const bytes = (n: number) => prettyBytes(n);

const LAYER_COLUMNS: Column[] = [
  { header: 'layer' },
  { header: 'on' },
  { header: 'functions', align: 'right' },
  { header: 'files', align: 'right' },
  { header: 'size', align: 'right' },
  { header: 'compressed', align: 'right' },
  { header: 'digest' },
];

const FUNCTION_COLUMNS: Column[] = [
  { header: 'function' },
  { header: 'verified' },
  { header: 'layers', align: 'right' },
  { header: 'cold node', align: 'right' },
  { header: 'after the others', align: 'right' },
  { header: 'in fleet order', align: 'right' },
  { header: 'carried, unused', align: 'right' },
  { header: 'tag' },
];

function layerRows(r: FleetReport): string[][] {
  return r.sharedLayers.map((l) => [
    `${l.id}${l.pinned ? ' (pinned)' : ''}`,
    l.parent ?? '-',
    String(l.users.length),
    String(l.files),
    bytes(l.bytes),
    bytes(l.compressedBytes),
    shortDigest(l.digest),
  ]);
}

function verifiedCell(f: FleetFunctionReport): string {
  if (!f.ok) return 'FAILED';
  if (!f.verification.verified) return 'not verified';
  return `${f.verification.requests} requests`;
}

function functionRows(r: FleetReport): string[][] {
  return r.functions.map((f) => {
    const sharedCount = f.layers.filter((l) => l.shared).length;
    return [
      `${f.name}${f.joined ? ' (joined)' : ''}`,
      verifiedCell(f),
      `${sharedCount}+${f.layers.length - sharedCount}`,
      f.ok ? bytes(f.coldNodeBytes) : '-',
      f.ok ? bytes(f.warmNodeBytes) : '-',
      f.ok ? bytes(f.inOrderBytes) : '-',
      bytes(f.carriedBytes),
      f.tag ?? '(no tag)',
    ];
  });
}

function headline(r: FleetReport): string {
  const plan = r.fresh ? 'planned afresh' : `pinned by ${r.state}`;
  return `slim fleet: ${r.totals.functions} functions, ${r.totals.verified} verified${r.totals.failed ? `, ${r.totals.failed} FAILED` : ''}; ${r.sharedLayers.length} shared layers (${plan}, budget ${r.layerBudget})`;
}

function totalsLine(r: FleetReport): string {
  const delta = r.totals.deltaBytes > 0 ? `; delta layers ${bytes(r.totals.deltaBytes)} of ${bytes(r.totals.sharedBytes)} shared (--repack folds them in)` : '';
  return `a node running the whole fleet pulls ${bytes(r.totals.nodeBytes)}; the images one by one on empty nodes: ${bytes(r.totals.imageBytes)}${delta}`;
}

export function renderFleetText(r: FleetReport): string {
  const out = [headline(r), totalsLine(r), '', 'Shared layers (bottom first)', r.sharedLayers.length ? textTable(LAYER_COLUMNS, layerRows(r)) : '  none: the functions keep no file in common', ''];
  out.push('Functions (bytes compressed; layers = shared+own)', textTable(FUNCTION_COLUMNS, functionRows(r)));
  for (const f of r.functions.filter((x) => x.failure)) out.push('', `${f.name}:`, f.failure!.trimEnd());
  const warnings = [...r.warnings, ...r.functions.flatMap((f) => f.warnings.map((w) => `${f.name}: ${w}`))];
  if (warnings.length) out.push('', 'Warnings', ...warnings.map((w) => `  ${w}`));
  return `${out.join('\n')}\n`;
}

export function renderFleetMarkdown(r: FleetReport): string {
  const out = [
    `### ${headline(r)}`,
    '',
    totalsLine(r),
    '',
    markdownTable(FUNCTION_COLUMNS, functionRows(r)),
    '',
    '<details><summary>Shared layers (bottom first)</summary>',
    '',
    r.sharedLayers.length ? markdownTable(LAYER_COLUMNS, layerRows(r)) : 'none: the functions keep no file in common',
    '',
    '</details>',
  ];
  for (const f of r.functions.filter((x) => x.failure)) out.push('', `**${f.name}**`, '', '```', f.failure!.trimEnd(), '```');
  const warnings = [...r.warnings, ...r.functions.flatMap((f) => f.warnings.map((w) => `${f.name}: ${w}`))];
  if (warnings.length) out.push('', '**Warnings**', '', ...warnings.map((w) => `- ${w}`));
  return `${out.join('\n')}\n`;
}
