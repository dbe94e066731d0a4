import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mapConcurrent } from '../../src/concurrency.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapConcurrent', () => {
  test('results come in the items\' order, whichever finishes first', async () => {
    const out = await mapConcurrent([30, 5, 15, 0], async (ms, i) => {
      await tick(ms);
      return `${i}:${ms}`;
    });
    assert.deepEqual(out, ['0:30', '1:5', '2:15', '3:0']);
  });

  test('never more than the limit at a time, and every item once', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await mapConcurrent(
      [...Array(9).keys()],
      async (n) => {
        running += 1;
        most = Math.max(most, running);
        await tick(2);
        seen.push(n);
        running -= 1;
      },
      3,
    );
    assert.equal(most, 3);
    assert.deepEqual(seen.sort((a, b) => a - b), [...Array(9).keys()]);
  });

  test('the first failure rejects after the started items settle, and no new item starts', async () => {
    const started: number[] = [];
    let settled = 0;
    await assert.rejects(
      mapConcurrent(
        [0, 1, 2, 3, 4],
        async (n) => {
          started.push(n);
          await tick(n === 1 ? 1 : 10);
          settled += 1;
          if (n === 1) throw new Error('layer 1 failed');
        },
        2,
      ),
      /layer 1 failed/,
    );
    assert.deepEqual(started, [0, 1]);
    assert.equal(settled, 2);
  });

  test('no items: no work', async () => {
    assert.deepEqual(await mapConcurrent([], async () => assert.fail('called')), []);
  });
});
