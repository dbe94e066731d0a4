import { printableCell } from './printable.js';

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
  /** longer cells are cut with an ellipsis */
  maxWidth?: number;
}

function fit(text: string, width: number | undefined): string {
  if (!width || text.length <= width) return text;
  return `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** A plain aligned text table for terminals and logs. */
export function textTable(columns: Column[], rows: string[][]): string {
  const cells = rows.map((row) => row.map((cell, i) => fit(printableCell(cell), columns[i]?.maxWidth)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (columns[i]?.align === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** A cell's text as Markdown shows it: no control characters, and no `|` or HTML tag to break the table. */
function escapeMarkdown(text: string): string {
  return printableCell(text).replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A GitHub-flavoured Markdown table. */
export function markdownTable(columns: Column[], rows: string[][]): string {
  const head = `| ${columns.map((c) => escapeMarkdown(c.header)).join(' | ')} |`;
  const rule = `|${columns.map((c) => (c.align === 'right' ? '---:' : '---')).join('|')}|`;
  const body = rows.map((row) => `| ${row.map((cell, i) => escapeMarkdown(fit(cell, columns[i]?.maxWidth))).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}
