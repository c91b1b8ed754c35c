// The end-of-run report of a coordinator run (report.md, confusion.png/.json/.csv in the run
// folder; @gnet/run-store's report.ts). The test split's confusion matrix is not in the run's
// result but on its live feed (the `evaluation` event of split 'test'), so the report watches the
// feed from the start and is written once runCoordinator has returned.
import { CIFAR10_CLASSES } from '@gnet/data';
import { confusionFromRowMajor, ReportError, RunFolder, type WrittenReport } from '@gnet/run-store';
import type { CoordinatorResult } from './coordinator.js';
import type { RunEvent, RunEvents } from './run_events.js';

type Evaluation = Extract<RunEvent, { kind: 'evaluation' }>;

/** Collects what the report needs from the feed; {@link write} it after a finished run. */
export class FinalReport {
  private testEvaluation: Evaluation | null = null;
  private readonly unsubscribe: () => void;

  constructor(events: RunEvents) {
    // A resumed or recovered run evaluates the test split once, at the end; the newest one counts.
    this.unsubscribe = events.subscribe((event) => {
      if (event.kind === 'evaluation' && event.split === 'test') this.testEvaluation = event;
    });
  }

  /** Writes the report of `result` into `runDir`. Throws `ReportError` when no test evaluation came by. */
  async write(runDir: string, result: CoordinatorResult): Promise<WrittenReport> {
    this.unsubscribe();
    const evaluation = this.testEvaluation;
    if (evaluation === null)
      throw new ReportError(
        'REPORT_NO_CONFUSION',
        `no test evaluation was published on the run's event feed, so ${runDir} gets no confusion matrix`,
      );
    const { plan } = result;
    const last = result.epochs.at(-1);
    return new RunFolder(runDir).writeReport({
      // The chart's title (coordinator.ts), so both images name the same run.
      title: `GoogLeNet (width ${plan.model.width}) on CIFAR-10, ${plan.worldSize} workers (${plan.allReduce.algorithm})`,
      classes: CIFAR10_CLASSES,
      epochs: result.epochs,
      test: result.test,
      confusion: confusionFromRowMajor(evaluation.confusion, CIFAR10_CLASSES.length),
      valImages: plan.valImages,
      details: [
        ['workers (last generation)', plan.worldSize],
        ['generations', result.generations],
        ['all-reduce', `${plan.allReduce.algorithm}, ${plan.allReduce.wireDtype}`],
        ['global batch', plan.globalBatch],
        ['epochs', result.epochs.length],
        ['images/s (last epoch)', last === undefined ? '—' : last.imagesPerSecond.toFixed(1)],
      ],
    });
  }
}
