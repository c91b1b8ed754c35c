// The CIFAR-10 "binary version" layout and its published checksums
// (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html; SHA-1s as published by
// apache/mxnet python/mxnet/gluon/data/vision/datasets.py, class CIFAR10).

/** Class names in label order: label `k` is `CIFAR10_CLASSES[k]`. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/** Number of classes (labels are 0..9). */
export const CIFAR10_NUM_CLASSES = 10;
/** Image side in pixels. */
export const CIFAR10_SIDE = 32;
/** Pixels per image plane (32 * 32). */
export const CIFAR10_PLANE_BYTES = CIFAR10_SIDE * CIFAR10_SIDE;
/** Bytes of one image: three planes R, G, B, each row-major 32x32. */
export const CIFAR10_IMAGE_BYTES = 3 * CIFAR10_PLANE_BYTES;
/** Bytes of one record: 1 label byte, then the image. */
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_IMAGE_BYTES;
/** Records in each official .bin file. */
export const CIFAR10_RECORDS_PER_FILE = 10_000;

/** The five training batches, in the order they are concatenated into the 50,000-image train split. */
export const CIFAR10_TRAIN_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
] as const;
/** The test batch (10,000 images). */
export const CIFAR10_TEST_FILE = 'test_batch.bin';

/** SHA-1 of each official .bin file (40 lower-case hex digits), keyed by file name. */
export const CIFAR10_BIN_SHA1: Readonly<Record<string, string>> = Object.freeze({
  'data_batch_1.bin': 'aadd24acce27caa71bf4b10992e9e7b2d74c2540',
  'data_batch_2.bin': 'c0ba65cce70568cd57b4e03e9ac8d2a5367c1795',
  'data_batch_3.bin': '1dd00a74ab1d17a6e7d73e185b69dbf31242f295',
  'data_batch_4.bin': 'aab85764eb3584312d3c7f65fd2fd016e36a258e',
  'data_batch_5.bin': '26e2849e66a845b7f1e4614ae70f4889ae604628',
  'test_batch.bin': '67eb016db431130d61cd03c7ad570b013799c88c',
});

/** Contents of `batches.meta.txt`: the class names, one per line, each ending in `\n`. */
export const CIFAR10_META_TEXT = CIFAR10_CLASSES.map((name) => `${name}\n`).join('');
