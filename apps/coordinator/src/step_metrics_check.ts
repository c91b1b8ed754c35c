// The coordinator's check of a round's `metrics` against what it asked each rank to do: the checks
// the protocol's semantic stage cannot make because they need the plan (check_semantics.ts already
// refuses counts beyond any batch, correct > count, a non-finite loss on an applied step and
// phases longer than the step). Pure, like evaluation.ts's check of `evalResult` shards: it
// returns the refusals, and the caller closes each refused rank's connection and re-forms the
// group without it, as for any peer that breaks the protocol.
import { rankSlice } from '@gnet/data';
import { ProtocolError, type Metrics } from '@gnet/protocol';
import { BadReplyError } from './errors.js';

/** What the coordinator asked for in one round, and how long the round took on its own clock. */
export interface StepExpectation {
  round: number;
  epoch: number;
  step: number;
  worldSize: number;
  /** Samples of the step over all ranks; rank r's share is `rankSlice(r, worldSize, globalBatch)`. */
  globalBatch: number;
  /** From just before `roundStart` was broadcast to the last `metrics` received, in ms. */
  roundMs: number;
}

/** A rank whose `metrics` are refused, and why (code `PROTO_BAD_REPLY`). */
export interface MetricsRefusal {
  rank: number;
  error: ProtocolError;
}

/**
 * A worker's `stepMs` runs from its `roundStart` received to its `metrics` sent, so it lies within
 * the coordinator's `roundMs`; clocks of two machines may differ in rate (NTP slews up to 0.05%),
 * so 1% and 10 ms are allowed on top.
 */
const STEP_MS_RATE_SLACK = 0.01;
const STEP_MS_SLACK_MS = 10;

/**
 * Checks `metrics[rank]` (one per rank, in rank order, as `WorkerGroup.collect` returns them) against
 * `expect`; returns one refusal per rank that reported for another round, epoch or step, counted
 * other than its share of the global batch, or timed a step longer than the round. Empty when all
 * agree.
 *
 * @example
 * checkStepMetrics([{ ...m, count: 2 ** 53 - 1 }, m], { round: 7, epoch: 0, step: 3, worldSize: 2, globalBatch: 128, roundMs: 900 })
 * // [{ rank: 0, error: ProtocolError PROTO_BAD_REPLY "metrics from rank 0 must count 64 samples (its slice [0, 64) of the
 * //   global batch of 128 over 2 ranks), but count 9007199254740991" }]
 */
export function checkStepMetrics(metrics: readonly Metrics[], expect: StepExpectation): MetricsRefusal[] {
  if (metrics.length !== expect.worldSize) {
    throw new RangeError(
      `\`metrics\` passed to \`checkStepMetrics\` must hold one entry per rank (${expect.worldSize}), but holds ${metrics.length}`,
    );
  }
  const refusals: MetricsRefusal[] = [];
  metrics.forEach((m, rank) => {
    const why = whatIsWrong(m, rank, expect);
    if (why !== null) refusals.push({ rank, error: new ProtocolError('PROTO_BAD_REPLY', `metrics from rank ${rank} ${why}`) });
  });
  return refusals;
}

function whatIsWrong(metrics: Metrics, rank: number, expected: StepExpectation): string | null {
  if (metrics.round !== expected.round || metrics.epoch !== expected.epoch || metrics.step !== expected.step) {
    return `must be for round ${expected.round} (epoch ${expected.epoch}, step ${expected.step}), but are for round ${metrics.round} (epoch ${metrics.epoch}, step ${metrics.step})`;
  }
  const { start, end } = rankSlice(rank, expected.worldSize, expected.globalBatch);
  if (metrics.count !== end - start) {
    return `must count ${end - start} samples (its slice [${start}, ${end}) of the global batch of ${expected.globalBatch} over ${expected.worldSize} ranks), but count ${metrics.count}`;
  }
  const limitMs = expected.roundMs * (1 + STEP_MS_RATE_SLACK) + STEP_MS_SLACK_MS;
  if (metrics.timings.stepMs > limitMs) {
    return `must time the step within the round (${Math.round(expected.roundMs)} ms on the coordinator's clock), but say stepMs ${metrics.timings.stepMs}`;
  }
  return null;
}

/**
 * Whether the round's step was skipped (its reduced gradient was not finite). Every rank sees the
 * same reduced gradient, so the ranks must agree: a disagreement, or metrics for another round,
 * throws `BadReplyError` (the replicas are no longer identical).
 */
export function stepSkipped(metrics: readonly Metrics[], round: number): boolean {
  const skipped = metrics.map((m) => m.skipped);
  metrics.forEach((m, rank) => {
    if (m.round !== round) throw new BadReplyError(`metrics from rank ${rank} must be for round ${round}, but are for round ${m.round}`);
  });
  if (skipped.some((s) => s !== skipped[0]))
    throw new BadReplyError(
      `ranks disagree on skipping round ${round} (skipped: ${JSON.stringify(skipped)}): replicas are no longer identical`,
    );
  return skipped[0] ?? false;
}
