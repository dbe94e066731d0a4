import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { printableCell, printableText } from '../../src/report/printable.js';
import { markdownTable, textTable } from '../../src/report/text-table.js';

const HOSTILE = '/srv/\x1b]0;owned\x07\x1b[2J\u009b31mx\x7f\ny\tz';

describe('names from the image never drive the terminal', () => {
  test('printableCell escapes C0, DEL and C1 controls, newline and tab included', () => {
    assert.equal(printableCell(HOSTILE), '/srv/\\x1b]0;owned\\x07\\x1b[2J\\u009b31mx\\x7f\\x0ay\\x09z');
    assert.equal(printableCell('/usr/lib/x86_64-linux-gnu/libc.so.6 · größe'), '/usr/lib/x86_64-linux-gnu/libc.so.6 · größe');
  });

  test('printableText keeps the newlines and tabs that lay text out', () => {
    assert.equal(printableText('a\tb\nc\x1b[2J\r'), 'a\tb\nc\\x1b[2J\\x0d');
  });

  test('text and Markdown tables escape every cell; Markdown also | and tags', () => {
    const text = textTable([{ header: 'path' }, { header: 'size', align: 'right' }], [[HOSTILE, '1 kB']]);
    assert.equal(text.split('\n').length, 3, 'one row');
    assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(text.replace(/\n/g, '')), text);
    const markdown = markdownTable([{ header: 'path' }], [[`${HOSTILE}|<img src=x onerror=alert(1)>`]]);
    assert.equal(markdown.split('\n').length, 3, 'one row');
    assert.ok(markdown.includes('\\|&lt;img src=x onerror=alert(1)&gt;'), markdown);
    assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(markdown.replace(/\n/g, '')), markdown);
  });
});
