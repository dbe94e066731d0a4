/**
 * Names and commands come from the image, which may be hostile: an escape sequence in a file name must
 * show as text, never reach the terminal (move the cursor, retitle the window, hide lines of a report).
 */
// C0 controls, DEL, and the C1 controls (U+0080–U+009F: U+009B is a one-character CSI to some terminals)
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

function escapeControl(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One table cell or one-line value: every control character escaped, a newline or a tab too. */
export function printableCell(text: string): string {
  return text.replace(CONTROL, escapeControl);
}

/** Lines of output: control characters escaped, except the newlines and tabs that lay the text out. */
export function printableText(text: string): string {
  return text.replace(CONTROL, (c) => (c === '\n' || c === '\t' ? c : escapeControl(c)));
}
