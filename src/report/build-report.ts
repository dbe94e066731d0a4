import prettyBytes from 'pretty-bytes';
import { attackSurfaceRows } from '../analyze/attack-surface.js';
import type { BuildReport } from '../build/report.js';
import { shortDigest } from '../image/layer-decoder.js';
import { markdownTable, textTable, type Column } from './text-table.js';
import { renderTimings } from '../timings.js';

const bytes = (n: number) => prettyBytes(n);
const ratio = (a: number, b: number) => (b > 0 ? `${((a / b) * 100).toFixed(1)}%` : '-');

function sizeRows(r: BuildReport): string[][] {
  return [
    ['uncompressed (file bytes)', bytes(r.original.visibleBytes), bytes(r.slim.fileBytes), ratio(r.slim.fileBytes, r.original.visibleBytes)],
    ['layer tars', bytes(r.original.layerBytes), bytes(r.slim.tarBytes), ratio(r.slim.tarBytes, r.original.layerBytes)],
    [r.slim.compression === 'gzip' ? 'compressed (gzip -6)' : `compressed (gzip -6; slim: ${r.slim.compression})`, bytes(r.original.compressedBytes), bytes(r.slim.compressedBytes), ratio(r.slim.compressedBytes, r.original.compressedBytes)],
    ['layers', String(r.original.layers), String(r.slim.layers.length), ''],
  ];
}

const SIZE_COLUMNS: Column[] = [{ header: '' }, { header: 'original', align: 'right' }, { header: 'slim', align: 'right' }, { header: 'slim/original', align: 'right' }];
const LAYER_COLUMNS: Column[] = [
  { header: '#', align: 'right' },
  { header: 'group' },
  { header: 'files', align: 'right' },
  { header: 'size', align: 'right' },
  { header: 'compressed', align: 'right' },
  { header: 'diff_id' },
  { header: 'digest' },
];

const SURFACE_COLUMNS: Column[] = [{ header: '' }, { header: 'original', align: 'right' }, { header: 'slim', align: 'right' }, { header: 'left in slim' }];

function layerRows(r: BuildReport): string[][] {
  return r.slim.layers.map((l, i) => [String(i), l.title, String(l.files), bytes(l.bytes), bytes(l.compressedBytes), shortDigest(l.diffId), shortDigest(l.digest)]);
}

function verificationLine(r: BuildReport): string {
  if (!r.verification.verified) return 'not verified (--no-verify)';
  const against = r.verification.original === 'traced run' ? " (the original's answers from the traced run)" : '';
  return r.verification.ok ? `verified: all ${r.verification.requests} requests answer as the original does${against}` : `FAILED: ${r.verification.differing} of ${r.verification.requests} requests differ`;
}

function where(r: BuildReport): string {
  return [r.slim.tag ? `tagged ${r.slim.tag}` : undefined, ...r.slim.outputs.map((o) => `written to ${o}`)].filter(Boolean).join(', ');
}

export function renderBuildText(r: BuildReport): string {
  const out = [
    `slim image ${shortDigest(r.slim.id)} ${where(r)}`,
    verificationLine(r),
    ...(r.seccomp ? [`seccomp profile ${r.seccomp.file}: ${r.seccomp.syscalls} syscalls allowed${r.verification.verified ? ', the slim image verified under it' : ''}`] : []),
    `traced floor ${bytes(r.tracedFloorBytes)}; the slim image holds ${(r.floorRatio).toFixed(3)} × the floor`,
    '',
    textTable(SIZE_COLUMNS, sizeRows(r)),
    '',
    'Layers (most stable first)',
    textTable(LAYER_COLUMNS, layerRows(r)),
    '',
    'Attack surface',
    textTable(SURFACE_COLUMNS, attackSurfaceRows(r.attackSurface)),
  ];
  if (r.warnings.length) out.push('', 'Warnings', ...r.warnings.map((w) => `  ${w}`));
  out.push('', `time ${renderTimings(r.timings)}`);
  return `${out.join('\n')}\n`;
}

export function renderBuildMarkdown(r: BuildReport): string {
  const out = [
    `### slim build: \`${r.original.reference}\` → ${r.slim.tag ? `\`${r.slim.tag}\`` : shortDigest(r.slim.id)}`,
    '',
    `**${bytes(r.original.compressedBytes)} → ${bytes(r.slim.compressedBytes)}** compressed (${ratio(r.slim.compressedBytes, r.original.compressedBytes)}) · ${verificationLine(r)} · traced floor ${bytes(r.tracedFloorBytes)}`,
    ...(r.seccomp ? ['', `seccomp profile \`${r.seccomp.file}\`: ${r.seccomp.syscalls} syscalls allowed${r.verification.verified ? ', the slim image verified under it' : ''}`] : []),
    '',
    markdownTable(SIZE_COLUMNS, sizeRows(r)),
    '',
    '<details><summary>Layers (most stable first)</summary>',
    '',
    markdownTable(LAYER_COLUMNS, layerRows(r)),
    '',
    '</details>',
    '',
    '<details><summary>Attack surface</summary>',
    '',
    markdownTable(SURFACE_COLUMNS, attackSurfaceRows(r.attackSurface)),
    '',
    '</details>',
    '',
    `<sub>built in ${renderTimings(r.timings)}</sub>`,
  ];
  if (r.warnings.length) out.push('', '**Warnings**', '', ...r.warnings.map((w) => `- ${w}`));
  return `${out.join('\n')}\n`;
}
