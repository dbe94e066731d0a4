import prettyBytes from 'pretty-bytes';
import type { ImageAnalysis } from '../analyze/analysis.js';
import { renderTimings } from '../timings.js';
import { KIND_LABELS } from '../analyze/kinds.js';
import { shortDigest } from '../image/layer-decoder.js';
import type { TraceSummary } from '../trace/trace-summary.js';
import { markdownTable, textTable, type Column } from './text-table.js';

interface Section {
  title: string;
  columns: Column[];
  rows: string[][];
}

const bytes = (n: number) => prettyBytes(n);
const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
const share = (part: number, whole: number) => (whole > 0 ? percent(part / whole) : '-');

function command(analysis: ImageAnalysis): string {
  const parts = [...(analysis.image.entrypoint ?? []), ...(analysis.image.cmd ?? [])];
  return parts.length ? JSON.stringify(parts) : '(none)';
}

function summaryRows(a: ImageAnalysis): string[][] {
  return [
    ['image', a.image.reference],
    ['id', a.image.id],
    ['tags', a.image.repoTags.join(', ') || '-'],
    ['source', a.image.source],
    ['platform', `${a.image.os ?? '?'}/${a.image.architecture ?? '?'}`],
    ['command', command(a)],
    ['user / workdir', `${a.image.user ?? 'root'} / ${a.image.workingDir ?? '/'}`],
    ['layers', String(a.layers.length)],
    ['total layer content', bytes(a.totalBytes)],
    ['stored (as the source keeps it)', bytes(a.storedBytes)],
    ['visible files', `${bytes(a.visibleBytes)} in ${a.fileCount} entries`],
    ['wasted', `${bytes(a.wastedBytes)} (${percent(a.userWastedPercent)} of the non-base layers)`],
    ['efficiency', percent(a.efficiency)],
  ];
}

function sections(a: ImageAnalysis): Section[] {
  return [
    {
      title: 'Layers',
      columns: [
        { header: '#', align: 'right' },
        { header: 'size', align: 'right' },
        { header: 'stored', align: 'right' },
        { header: 'files', align: 'right' },
        { header: 'digest' },
        { header: 'created by', maxWidth: 70 },
      ],
      rows: a.layers.map((l) => [
        String(l.index),
        bytes(l.bytes),
        bytes(l.storedBytes),
        String(l.fileCount),
        shortDigest(l.diffId),
        (l.createdBy ?? '(no history)').replace(/^\/bin\/sh -c (#\(nop\) )?/, '').trim(),
      ]),
    },
    {
      title: 'By kind',
      columns: [{ header: 'kind' }, { header: 'size', align: 'right' }, { header: 'share', align: 'right' }, { header: 'files', align: 'right' }],
      rows: a.kinds.map((k) => [KIND_LABELS[k.kind], bytes(k.bytes), share(k.bytes, a.visibleBytes), String(k.fileCount)]),
    },
    {
      title: 'Largest directories',
      columns: [{ header: 'directory', maxWidth: 70 }, { header: 'size', align: 'right' }, { header: 'share', align: 'right' }, { header: 'files', align: 'right' }],
      rows: a.largest.directories.map((d) => [d.path, bytes(d.bytes), share(d.bytes, a.visibleBytes), String(d.fileCount)]),
    },
    {
      title: 'Largest files',
      columns: [{ header: 'file', maxWidth: 80 }, { header: 'size', align: 'right' }, { header: 'layer', align: 'right' }],
      rows: a.largest.files.map((f) => [f.path, bytes(f.bytes), String(f.layer)]),
    },
    {
      title: 'Wasted (paths in more than one layer, or deleted later)',
      columns: [{ header: 'path', maxWidth: 80 }, { header: 'bytes', align: 'right' }, { header: 'copies', align: 'right' }],
      rows: a.wasted.map((w) => [w.path, bytes(w.bytes), String(w.copies)]),
    },
  ];
}

function traceRows(t: TraceSummary, visibleBytes: number): string[][] {
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  return [
    ['recording', t.recording],
    ['command', JSON.stringify(t.command)],
    ['requests', t.requests.map((r) => `${r.name} ${r.status} (${r.ms} ms)`).join(', ')],
    ['used (kept)', `${bytes(t.keptBytes)} in ${t.keptFiles} files, ${share(t.keptBytes, visibleBytes)} of ${bytes(visibleBytes)}`],
    ['traced floor', `${bytes(t.tracedBytes)} in ${t.tracedFiles} files (what the run itself touched)`],
    ['estimated slim size', bytes(t.estimatedSlimBytes)],
    ['cold start', `first exec ${ms(t.timeline.firstExecMs)} · listening ${ms(t.timeline.listeningMs)} · ready ${ms(t.timeline.readyMs)} · first accept ${ms(t.timeline.firstAcceptMs)} · first response ${ms(t.timeline.firstResponseMs)} (from container start, under the tracer)`],
    ['kept because', Object.entries(t.reasons).map(([r, n]) => `${r} ${n}`).join(', ')],
  ];
}

function traceSections(t: TraceSummary): Section[] {
  return [
    {
      title: 'Removable directories (nothing in them is used)',
      columns: [{ header: 'directory', maxWidth: 70 }, { header: 'size', align: 'right' }, { header: 'files', align: 'right' }],
      rows: t.removableDirectories.map((d) => [d.path, bytes(d.bytes), String(d.fileCount)]),
    },
    {
      title: 'Removable Debian packages (no file used)',
      columns: [{ header: 'package' }, { header: 'size', align: 'right' }, { header: 'files', align: 'right' }],
      rows: t.removablePackages.map((p) => [p.name, bytes(p.bytes), String(p.fileCount)]),
    },
    {
      title: 'Debian packages in use',
      columns: [{ header: 'package' }, { header: 'used', align: 'right' }, { header: 'size', align: 'right' }],
      rows: t.keptPackages.map((p) => [p.name, bytes(p.keptBytes), bytes(p.bytes)]),
    },
    {
      title: 'Libraries no search path finds',
      columns: [{ header: 'library' }, { header: 'needed by' }],
      rows: t.missingLibraries.map((m) => [m.name, m.from]),
    },
  ];
}

const EFFICIENCY_NOTE =
  'Wasted bytes and efficiency follow dive: a path found in several layers (a whiteout counting as a copy of what it deleted) wastes all its copies; efficiency = smallest copy per path / all copies.';

export function renderAnalysisText(a: ImageAnalysis): string {
  const out = [textTable([{ header: 'summary' }, { header: '' }], summaryRows(a)).split('\n').filter((_, i) => i > 1).join('\n')];
  for (const section of sections(a)) {
    if (section.rows.length === 0) continue;
    out.push('', section.title, textTable(section.columns, section.rows));
  }
  if (a.trace) {
    out.push('', 'Traced run', textTable([{ header: '' }, { header: '' }], traceRows(a.trace, a.visibleBytes)).split('\n').slice(2).join('\n'));
    for (const section of traceSections(a.trace)) {
      if (section.rows.length === 0) continue;
      out.push('', section.title, textTable(section.columns, section.rows));
    }
    if (a.trace.warnings.length) out.push('', 'Warnings', ...a.trace.warnings.map((w) => `  ${w}`));
  }
  if (a.problems.length) out.push('', 'Problems', ...a.problems.map((p) => `  ${p}`));
  out.push('', EFFICIENCY_NOTE, '', `time ${renderTimings(a.timings)}`);
  return `${out.join('\n')}\n`;
}

export function renderAnalysisMarkdown(a: ImageAnalysis): string {
  const out = [
    `### slim analyze: \`${a.image.reference}\``,
    '',
    `**${bytes(a.visibleBytes)}** visible in ${a.layers.length} layers · wasted **${bytes(a.wastedBytes)}** · efficiency **${percent(a.efficiency)}**`,
    '',
    markdownTable([{ header: '' }, { header: '' }], summaryRows(a)),
  ];
  for (const section of sections(a)) {
    if (section.rows.length === 0) continue;
    out.push('', `<details><summary>${section.title}</summary>`, '', markdownTable(section.columns, section.rows), '', '</details>');
  }
  if (a.trace) {
    out.push('', '#### Traced run', '', markdownTable([{ header: '' }, { header: '' }], traceRows(a.trace, a.visibleBytes)));
    for (const section of traceSections(a.trace)) {
      if (section.rows.length === 0) continue;
      out.push('', `<details><summary>${section.title}</summary>`, '', markdownTable(section.columns, section.rows), '', '</details>');
    }
    if (a.trace.warnings.length) out.push('', '**Warnings**', '', ...a.trace.warnings.map((w) => `- ${w}`));
  }
  if (a.problems.length) out.push('', '**Problems**', '', ...a.problems.map((p) => `- ${p}`));
  out.push('', `<sub>${EFFICIENCY_NOTE}</sub>`);
  return `${out.join('\n')}\n`;
}

export function renderAnalysisJson(a: ImageAnalysis): string {
  return `${JSON.stringify(a, null, 2)}\n`;
}
