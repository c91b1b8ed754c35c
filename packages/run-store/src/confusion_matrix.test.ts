import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfusion, classFigures, confusionCsv, confusionFromRowMajor, confusionTotals, ReportError } from './confusion_matrix.js';

const classes = ['cat', 'dog', 'frog'];
// Rows: true class; columns: predicted.
const matrix = [
  [8, 2, 0],
  [3, 6, 1],
  [0, 0, 0],
];

test('row-major counts become rows of the true class', () => {
  assert.deepEqual(confusionFromRowMajor([8, 2, 0, 3, 6, 1, 0, 0, 0], 3), matrix);
  assert.throws(
    () => confusionFromRowMajor([1, 2, 3], 3),
    (err: unknown) =>
      err instanceof ReportError &&
      err.code === 'REPORT_BAD_CONFUSION' &&
      err.message === 'a row-major confusion matrix of 3 classes must have 9 counts, but has 3',
  );
});

test('totals, per-class accuracy and the most frequent mistake', () => {
  assert.deepEqual(confusionTotals(matrix), { images: 20, correct: 14 });
  assert.deepEqual(classFigures(matrix, classes), [
    { name: 'cat', images: 10, correct: 8, accuracy: 0.8, confusedWith: { name: 'dog', images: 2 } },
    { name: 'dog', images: 10, correct: 6, accuracy: 0.6, confusedWith: { name: 'cat', images: 3 } },
    { name: 'frog', images: 0, correct: 0, accuracy: null, confusedWith: null },
  ]);
});

test('CSV: header of predicted classes, one line per true class; odd names quoted', () => {
  assert.equal(confusionCsv(matrix, classes), 'true\\predicted,cat,dog,frog\ncat,8,2,0\ndog,3,6,1\nfrog,0,0,0\n');
  assert.equal(confusionCsv([[1]], ['a,"b"']), 'true\\predicted,"a,""b"""\n"a,""b""",1\n');
});

test('a matrix that does not fit the classes is refused, naming the cell', () => {
  const refuses = (m: number[][], message: string): void =>
    assert.throws(
      () => checkConfusion(m, classes),
      (err: unknown) => err instanceof ReportError && err.code === 'REPORT_BAD_CONFUSION' && err.message === message,
    );
  refuses([[1, 2, 3]], 'the confusion matrix must have 3 rows (one per class), but has 1');
  refuses(
    [
      [1, 2, 3],
      [1, 2],
      [1, 2, 3],
    ],
    'row 1 (dog) of the confusion matrix must have 3 columns, but has 2',
  );
  refuses(
    [
      [1, 2, 3],
      [1, -2, 3],
      [1, 2, 3],
    ],
    'confusion[1][1] must be a non-negative integer image count, but is -2',
  );
  refuses(
    [
      [1, 2, 3],
      [1, 2, 3],
      [1, 2, 0.5],
    ],
    'confusion[2][2] must be a non-negative integer image count, but is 0.5',
  );
});
