import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diveEfficiency } from '../../src/analyze/efficiency.js';
import { FileIndex } from '../../src/image/file-index.js';
import type { LayerListing } from '../../src/image/layer-listing.js';
import { dir, file, listing } from '../helpers/layers.js';

function efficiencyOf(listings: LayerListing[]) {
  return diveEfficiency(listings, FileIndex.build(listings).whiteoutSizes);
}

describe('diveEfficiency', () => {
  test('no path in two layers: efficiency 1, nothing wasted', async () => {
    const result = efficiencyOf([
      await listing(0, [dir('bin/'), file('bin/sh', 100), file('etc/os-release', 20)]),
      await listing(1, [dir('bin/'), file('bin/app', 50)]),
    ]);
    assert.equal(result.efficiency, 1);
    assert.equal(result.wastedBytes, 0);
    assert.equal(result.userWastedPercent, 0);
    assert.deepEqual(result.inefficiencies, []);
    assert.equal(result.sizeBytes, 170);
    assert.equal(result.userSizeBytes, 50);
  });

  test('a file copied in two layers wastes both copies', async () => {
    // layer 0: a=100, b=50 · layer 1: a=30
    const result = efficiencyOf([await listing(0, [file('a', 100), file('b', 50)]), await listing(1, [file('a', 30)])]);
    assert.equal(result.sizeBytes, 180);
    assert.equal(result.userSizeBytes, 30);
    assert.equal(result.wastedBytes, 130);
    assert.deepEqual(result.inefficiencies, [{ path: 'a', bytes: 130, copies: 2 }]);
    // Σ smallest copy per path / Σ all copies = (30 + 50) / (130 + 50)
    assert.equal(result.efficiency, 80 / 180);
    assert.equal(result.userWastedPercent, 130 / 30);
  });

  test('userWastedPercent divides by the non-base layers only', async () => {
    // layer 0: a=100 · layer 1: a=100, b=50
    const result = efficiencyOf([await listing(0, [file('a', 100)]), await listing(1, [file('a', 100), file('b', 50)])]);
    assert.equal(result.sizeBytes, 250);
    assert.equal(result.userSizeBytes, 150);
    assert.equal(result.wastedBytes, 200);
    assert.equal(result.userWastedPercent, 200 / 150);
    assert.equal(result.efficiency, 150 / 250);
  });

  test('a file deleted later: the whiteout is a zero-byte copy, so the original is wasted', async () => {
    const result = efficiencyOf([
      await listing(0, [dir('tmp/'), file('tmp/big', 1000), file('keep', 10)]),
      await listing(1, [{ path: 'tmp/.wh.big', content: '' }]),
    ]);
    assert.equal(result.wastedBytes, 1000);
    assert.deepEqual(result.inefficiencies, [{ path: 'tmp/big', bytes: 1000, copies: 2 }]);
    assert.equal(result.efficiency, 10 / 1010);
    assert.equal(result.userSizeBytes, 0);
    assert.equal(result.userWastedPercent, 0, 'no user bytes: the ratio is 0, not Infinity');
  });

  test('a deleted directory counts its lower contents as the whiteout copy', async () => {
    // layer 0: cache/a=200, cache/sub/b=300 · layer 1 deletes cache · layer 2 recreates it empty
    const listings = [
      await listing(0, [dir('cache/'), file('cache/a', 200), file('cache/sub/b', 300)]),
      await listing(1, [{ path: '.wh.cache', content: '' }]),
      await listing(2, [dir('cache/')]),
    ];
    const result = efficiencyOf(listings);
    assert.deepEqual(result.inefficiencies, [{ path: 'cache', bytes: 500, copies: 2 }]);
    assert.equal(result.wastedBytes, 500);
    // minimum per path: cache/a 200 + cache/sub/b 300 + cache 0; all copies: 200 + 300 + 500
    assert.equal(result.efficiency, 500 / 1000);

    // dive only visits leaves, so a directory deleted and never recreated is a single copy: not wasted
    const once = efficiencyOf(listings.slice(0, 2));
    assert.equal(once.wastedBytes, 0);
    assert.equal(once.efficiency, 1);
  });

  test('a path in three layers counts three copies', async () => {
    const result = efficiencyOf([
      await listing(0, [file('f', 10)]),
      await listing(1, [file('f', 20)]),
      await listing(2, [file('f', 5), file('g', 1)]),
    ]);
    assert.deepEqual(result.inefficiencies, [{ path: 'f', bytes: 35, copies: 3 }]);
    assert.equal(result.efficiency, (5 + 1) / (35 + 1));
    assert.equal(result.userWastedPercent, 35 / 26);
  });

  test('opaque markers are not copies, and directories with children are not leaves', async () => {
    const result = efficiencyOf([
      await listing(0, [dir('d/'), file('d/x', 10)]),
      await listing(1, [dir('d/'), { path: 'd/.wh..wh..opq', content: '' }, file('d/y', 5)]),
    ]);
    assert.equal(result.wastedBytes, 0);
    assert.equal(result.efficiency, 1);
  });

  test('inefficiencies are sorted by bytes, then path', async () => {
    const result = efficiencyOf([
      await listing(0, [file('b', 5), file('a', 5), file('c', 50)]),
      await listing(1, [file('b', 5), file('a', 5), file('c', 1)]),
    ]);
    assert.deepEqual(
      result.inefficiencies.map((i) => i.path),
      ['c', 'a', 'b'],
    );
  });

  test('an empty image is fully efficient', () => {
    const result = diveEfficiency([], []);
    assert.deepEqual(
      { e: result.efficiency, w: result.wastedBytes, s: result.sizeBytes, p: result.userWastedPercent },
      { e: 1, w: 0, s: 0, p: 0 },
    );
  });
});
