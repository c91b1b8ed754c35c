// Sharded evaluation, coordinator side: one contiguous shard of the split per rank (evalShard:
// every image exactly once, no padding), and the sum of the workers' replies, checked to tile the
// split exactly before it becomes a validation or test figure.
import { evalShard } from '@gnet/data';
import type { EvalRequest, EvalResult, EvalSplit } from '@gnet/protocol';
import { BadReplyError } from './errors.js';

/** Sums over a whole split, from every rank's `evalResult`. */
export interface EvalTotals {
  split: EvalSplit;
  lossSum: number;
  correct: number;
  count: number;
  /** [numClasses] */
  perClassCorrect: number[];
  /** [numClasses] */
  perClassCount: number[];
  /** Row-major [true][predicted] image counts over the whole split. */
  confusion: number[];
}

/** The `evalRequest` for each rank: rank r evaluates `evalShard(images, worldSize, r)`. */
export function evalRequests(options: {
  evalId: number;
  epoch: number;
  split: EvalSplit;
  images: number;
  worldSize: number;
  batchSize: number;
  averageRound?: number | null;
}): EvalRequest[] {
  return Array.from({ length: options.worldSize }, (_, rank) => {
    const { start, end } = evalShard(options.images, options.worldSize, rank);
    return {
      type: 'evalRequest',
      evalId: options.evalId,
      epoch: options.epoch,
      split: options.split,
      start,
      end,
      batchSize: options.batchSize,
      averageRound: options.averageRound ?? null,
    };
  });
}

/**
 * Adds the replies (one per rank, in rank order) after checking that each answers its request and
 * that together they count every image of `[0, images)` exactly once. Throws `BadReplyError`.
 */
export function sumEvalResults(requests: readonly EvalRequest[], results: readonly EvalResult[], numClasses: number): EvalTotals {
  const totals: EvalTotals = {
    split: requests[0]!.split,
    lossSum: 0,
    correct: 0,
    count: 0,
    perClassCorrect: new Array<number>(numClasses).fill(0),
    perClassCount: new Array<number>(numClasses).fill(0),
    confusion: new Array<number>(numClasses * numClasses).fill(0),
  };
  let covered = 0;
  results.forEach((result, rank) => {
    const request = requests[rank]!;
    if (
      result.evalId !== request.evalId ||
      result.split !== request.split ||
      result.start !== request.start ||
      result.end !== request.end
    ) {
      throw new BadReplyError(
        `evalResult from rank ${rank} must answer evalId ${request.evalId} (${request.split} [${request.start}, ${request.end})), but answers evalId ${result.evalId} (${result.split} [${result.start}, ${result.end}))`,
      );
    }
    if (result.start !== covered) {
      throw new BadReplyError(
        `evalResult from rank ${rank} must start at ${covered} so shards tile the split, but starts at ${result.start}`,
      );
    }
    covered = result.end;
    if (result.count > 0 && result.perClassCount.length !== numClasses) {
      throw new BadReplyError(
        `evalResult from rank ${rank} must have ${numClasses} per-class counts, but has ${result.perClassCount.length}`,
      );
    }
    totals.lossSum += result.lossSum;
    totals.correct += result.correct;
    totals.count += result.count;
    result.perClassCorrect.forEach((v, k) => (totals.perClassCorrect[k]! += v));
    result.perClassCount.forEach((v, k) => (totals.perClassCount[k]! += v));
    result.confusion.forEach((v, k) => (totals.confusion[k]! += v));
  });
  const images = requests.at(-1)!.end;
  if (covered !== images || totals.count !== images) {
    throw new BadReplyError(
      `evalResults must count each of the ${images} ${totals.split} images once, but cover ${covered} and count ${totals.count}`,
    );
  }
  return totals;
}
