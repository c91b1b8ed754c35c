// A confusion matrix as plain counts (`matrix[t][p]`: images of true class t predicted as p, the
// layout of scikit-learn's confusion_matrix), its checks, the per-class figures read from it, and
// its CSV form. The coordinator receives it row-major from the wire; training builds it nested.

/** [numClasses][numClasses] image counts, rows = true class, columns = predicted class. */
export type ConfusionMatrix = readonly (readonly number[])[];

/** One class's line of the report: recall (accuracy on that class) and its most frequent mistake. */
export interface ClassFigures {
  name: string;
  /** Test images of this class (the row's sum). */
  images: number;
  /** Of them, predicted correctly (the diagonal). */
  correct: number;
  /** correct / images; null when the split holds no image of the class. */
  accuracy: number | null;
  /** The class these images were most often mistaken for, and how often; null when never wrong. */
  confusedWith: { name: string; images: number } | null;
}

export type ReportErrorCode = 'REPORT_BAD_CONFUSION' | 'REPORT_COUNT_MISMATCH' | 'REPORT_NO_CONFUSION';

/** The report's inputs do not fit together (a bug upstream, never a user's setting). */
export class ReportError extends Error {
  override readonly name = 'ReportError';
  constructor(
    readonly code: ReportErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Throws `REPORT_BAD_CONFUSION` unless `matrix` is classes.length square of non-negative integers. */
export function checkConfusion(matrix: ConfusionMatrix, classes: readonly string[]): void {
  const n = classes.length;
  if (matrix.length !== n)
    throw new ReportError('REPORT_BAD_CONFUSION', `the confusion matrix must have ${n} rows (one per class), but has ${matrix.length}`);
  matrix.forEach((row, t) => {
    if (row.length !== n)
      throw new ReportError(
        'REPORT_BAD_CONFUSION',
        `row ${t} (${classes[t]}) of the confusion matrix must have ${n} columns, but has ${row.length}`,
      );
    row.forEach((v, p) => {
      if (!Number.isInteger(v) || v < 0)
        throw new ReportError('REPORT_BAD_CONFUSION', `confusion[${t}][${p}] must be a non-negative integer image count, but is ${v}`);
    });
  });
}

/** The nested matrix of a row-major vector of numClasses² counts (the `evalResult` wire layout). */
export function confusionFromRowMajor(values: readonly number[], numClasses: number): number[][] {
  if (values.length !== numClasses * numClasses) {
    throw new ReportError(
      'REPORT_BAD_CONFUSION',
      `a row-major confusion matrix of ${numClasses} classes must have ${numClasses * numClasses} counts, but has ${values.length}`,
    );
  }
  return Array.from({ length: numClasses }, (_, t) => values.slice(t * numClasses, (t + 1) * numClasses));
}

/** Images counted by the matrix (its sum) and predicted correctly (its trace). */
export function confusionTotals(matrix: ConfusionMatrix): { images: number; correct: number } {
  let images = 0;
  let correct = 0;
  matrix.forEach((row, t) => row.forEach((v, p) => ((images += v), (correct += t === p ? v : 0))));
  return { images, correct };
}

/** Per-class figures, in class order. */
export function classFigures(matrix: ConfusionMatrix, classes: readonly string[]): ClassFigures[] {
  checkConfusion(matrix, classes);
  return matrix.map((row, t) => {
    const images = row.reduce((s, v) => s + v, 0);
    let worst = -1;
    row.forEach((v, p) => {
      if (p !== t && v > 0 && (worst < 0 || v > row[worst]!)) worst = p;
    });
    return {
      name: classes[t]!,
      images,
      correct: row[t]!,
      accuracy: images > 0 ? row[t]! / images : null,
      confusedWith: worst < 0 ? null : { name: classes[worst]!, images: row[worst]! },
    };
  });
}

/** RFC 4180 field: quoted only when it holds a comma, quote or line break. */
const csvField = (text: string): string => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);

/** CSV with a header row of predicted classes and one line per true class. */
export function confusionCsv(matrix: ConfusionMatrix, classes: readonly string[]): string {
  checkConfusion(matrix, classes);
  const lines = [
    ['true\\predicted', ...classes].map(csvField).join(','),
    ...matrix.map((row, t) => [csvField(classes[t]!), ...row].join(',')),
  ];
  return lines.join('\n') + '\n';
}
