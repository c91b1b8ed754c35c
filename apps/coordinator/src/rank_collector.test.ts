// One wait for a message from each of a set of ranks, without sockets: the answer comes in rank
// order whatever the arrival order, a refused message is a dropped late reply, the timeout names
// the ranks still missing, stall warnings name them too, and it settles exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EvalResult, Message } from '@gnet/protocol';
import { PhaseTimeoutError } from './errors.js';
import { RankCollector, type RankCollectorOptions } from './rank_collector.js';

/** Rank's shard of evaluation `evalId`, with `correct` right answers. */
function evalResult(evalId: number, correct: number): EvalResult {
  return {
    type: 'evalResult',
    evalId,
    epoch: 0,
    split: 'val',
    start: 0,
    end: 10,
    lossSum: 1,
    correct,
    count: 10,
    perClassCorrect: [],
    perClassCount: [],
    confusion: [],
  };
}

function collector(overrides: Partial<RankCollectorOptions> = {}): {
  collector: RankCollector;
  settled: () => number;
} {
  let settled = 0;
  const made = new RankCollector({
    type: 'evalResult',
    ranks: [0, 1, 2],
    match: (m) => m.type === 'evalResult' && m.evalId === 7,
    phase: 'evaluation',
    timeoutMs: 60_000,
    stallWarnMs: 60_000,
    onStall: () => undefined,
    onSettled: () => {
      settled += 1;
    },
    ...overrides,
  });
  return { collector: made, settled: () => settled };
}

test('answers in rank order whatever the arrival order, and settles once', async () => {
  const { collector: wait, settled } = collector();
  assert.equal(wait.offer(2, evalResult(7, 2)), true);
  assert.equal(wait.offer(0, evalResult(7, 0)), true);
  assert.deepEqual(wait.missing, [1]);
  assert.equal(wait.offer(1, evalResult(7, 1)), true);
  const answer = await wait.answer;
  assert.deepEqual(
    answer.map((m) => (m.type === 'evalResult' ? m.correct : -1)),
    [0, 1, 2],
  );
  wait.reject(new Error('too late'));
  assert.equal(settled(), 1);
  assert.equal(wait.awaits(1), false);
});

test('wants only its type from a rank it still waits for; a refused message is dropped and the rank still owes one', async () => {
  const { collector: wait } = collector({ ranks: [0, 1] });
  const heartbeat: Message = { type: 'heartbeat', sentAtMs: 0 };
  assert.equal(wait.wants(0, heartbeat), false);
  assert.equal(wait.wants(3, evalResult(7, 0)), false, 'rank 3 is not waited for');
  assert.equal(wait.wants(0, evalResult(6, 0)), true);
  assert.equal(wait.offer(0, evalResult(6, 0)), false, 'a late reply of evaluation 6');
  assert.equal(wait.awaits(0), true);
  wait.offer(0, evalResult(7, 5));
  assert.equal(wait.wants(0, evalResult(7, 5)), false, 'rank 0 has answered');
  wait.reject(new Error('stop'));
  await assert.rejects(wait.answer, /stop/);
});

test('a timeout rejects with PhaseTimeoutError naming the phase and the missing ranks; stall warnings name them first', async () => {
  const stalls: { missing: number[]; waitedMs: number }[] = [];
  const { collector: wait, settled } = collector({
    timeoutMs: 400,
    stallWarnMs: 100,
    onStall: (missing, waitedMs) => stalls.push({ missing, waitedMs }),
  });
  wait.offer(1, evalResult(7, 1));
  const err = await wait.answer.then(
    () => assert.fail('resolved without ranks 0 and 2'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PhaseTimeoutError, String(err));
  assert.match(err.message, /^Ranks 0, 2 did not answer within 400 ms during evaluation/);
  assert.deepEqual(err.missingRanks, [0, 2]);
  assert.ok(stalls.length >= 2, `stall warnings: ${JSON.stringify(stalls)}`);
  for (const stall of stalls) {
    assert.deepEqual(stall.missing, [0, 2]);
    assert.ok(stall.waitedMs >= 100);
  }
  assert.equal(settled(), 1);
});

test('a wait on no ranks resolves at once, with no answers', async () => {
  const { collector: wait, settled } = collector({ ranks: [] });
  wait.settleIfComplete();
  assert.deepEqual(await wait.answer, []);
  assert.equal(settled(), 1);
});
