import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { globMatcher } from '../../src/glob.js';

describe('globMatcher (--include, --exclude, --group)', () => {
  test('** and * match names with a newline or other control bytes', () => {
    for (const name of ['/hostile/new\nline', '/hostile/tab\tname', '/hostile/esc\x1b[31m']) {
      assert.ok(globMatcher('/hostile/**')(name), JSON.stringify(name));
      assert.ok(globMatcher('/hostile/*')(name), JSON.stringify(name));
    }
    assert.ok(globMatcher('/hostile/new*')('/hostile/new\nline'));
  });

  test('dot files match; * stops at a slash; ** does not', () => {
    assert.ok(globMatcher('/app/*')('/app/.env'));
    assert.ok(!globMatcher('/app/*')('/app/lib/x.js'));
    assert.ok(globMatcher('/app/**')('/app/lib/.cache/x.js'));
    assert.ok(!globMatcher('/app/**')('/apps/x'));
  });
});
