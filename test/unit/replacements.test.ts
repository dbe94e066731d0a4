import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replaceContents } from '../../src/build/replacements.js';
import type { Plan, PlannedEntry } from '../../src/plan/plan.js';

const entry = (path: string, size: number, type: 'file' | 'directory' = 'file'): PlannedEntry => ({
  path,
  record: { path: path.slice(1), type, size, mode: 0o644, uid: 0, gid: 0, mtime: 1, layer: 0 },
  group: 'system',
  rule: 'traced',
});

test('a replaced file keeps its path, mode and owner, takes the new size, and the layer bytes follow', () => {
  const modules = entry('/jvm/lib/modules', 1000);
  const java = entry('/jvm/bin/java', 10);
  const dir = entry('/jvm', 0, 'directory');
  const plan: Plan = { layers: [{ group: 'system', entries: [dir, java, modules], files: 2, bytes: 1010 }], entries: new Map([[java.path, java], [modules.path, modules]]), skipped: [] };
  const out = replaceContents(plan, new Map([['/jvm/lib/modules', { size: 300 }], ['/not/kept', { size: 5 }]]));
  assert.equal(out.layers[0]!.bytes, 310);
  assert.equal(out.layers[0]!.files, 2);
  const replaced = out.layers[0]!.entries.find((e) => e.path === '/jvm/lib/modules')!;
  assert.deepEqual({ ...replaced.record, size: 1000 }, modules.record);
  assert.equal(replaced.record.size, 300);
  assert.match(replaced.rule, /content replaced/);
  assert.equal(out.entries.get('/jvm/lib/modules')!.record.size, 300);
  assert.equal(out.layers[0]!.entries.find((e) => e.path === '/jvm/bin/java')!.record.size, 10, 'the others are unchanged');
  assert.equal(plan.layers[0]!.bytes, 1010, 'the input plan is unchanged');
});

test('a file in a hardlink group, a symlink or a directory is not replaced: the error says why', () => {
  const modules = entry('/jvm/lib/modules', 1000);
  const twin = { ...entry('/jvm/lib/modules.bak', 0), hardlinkTo: '/jvm/lib/modules' };
  const plan: Plan = { layers: [{ group: 'system', entries: [modules, twin], files: 2, bytes: 1000 }], entries: new Map([[modules.path, modules], [twin.path, twin]]), skipped: [] };
  assert.throws(() => replaceContents(plan, new Map([['/jvm/lib/modules', { size: 3 }]])), /cannot replace the content of \/jvm\/lib\/modules: it is hardlinked to other kept files/);
  assert.throws(() => replaceContents(plan, new Map([['/jvm/lib/modules.bak', { size: 3 }]])), /modules\.bak: it is hardlinked/);
  const symlink: PlannedEntry = { ...entry('/jvm/release', 0), record: { ...entry('/jvm/release', 0).record, type: 'symlink', linkTarget: 'x' } };
  const withLink: Plan = { layers: [{ group: 'system', entries: [symlink], files: 1, bytes: 0 }], entries: new Map([[symlink.path, symlink]]), skipped: [] };
  assert.throws(() => replaceContents(withLink, new Map([['/jvm/release', { size: 3 }]])), /it is a symlink/);
  const dir = entry('/jvm', 0, 'directory');
  const withDir: Plan = { layers: [{ group: 'system', entries: [dir], files: 0, bytes: 0 }], entries: new Map([[dir.path, dir]]), skipped: [] };
  assert.throws(() => replaceContents(withDir, new Map([['/jvm', { size: 3 }]])), /it is a directory/);
});
