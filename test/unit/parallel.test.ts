import test from 'ava';
import { forEachLimit } from '../../src/util/parallel.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('forEachLimit runs every item, never more than the limit at once', async (t) => {
  let running = 0;
  let most = 0;
  const done: number[] = [];
  await forEachLimit([...Array(20).keys()], 3, async (i) => {
    running++;
    most = Math.max(most, running);
    await tick(i % 4);
    done.push(i);
    running--;
  });
  t.is(most, 3);
  t.deepEqual(
    done.sort((a, b) => a - b),
    [...Array(20).keys()],
  );
});

test('forEachLimit fails with the first error, after the calls in flight have settled, and starts no new ones', async (t) => {
  const started: number[] = [];
  let settled = 0;
  const error = await t.throwsAsync(
    forEachLimit([...Array(10).keys()], 2, async (i) => {
      started.push(i);
      if (i === 1) throw new Error('item 1 failed');
      await tick(20);
      settled++;
    }),
  );
  t.is(error?.message, 'item 1 failed');
  t.deepEqual(started, [0, 1], 'nothing started after the failure');
  t.is(settled, 1, 'item 0 ran to its end before the error came out');
});

test('forEachLimit on no items resolves without calling fn', async (t) => {
  let calls = 0;
  await forEachLimit([], 4, async () => {
    calls++;
  });
  t.is(calls, 0);
});
