// Where the cross-process tests find the real CIFAR-10: $CIFAR10_DIR, else shared/ beside the checkout
// (read-only in CI; tests never write there).
import { fileURLToPath } from 'node:url';

export const CIFAR10_TEST_DIR =
  process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../shared/data/cifar-10-batches-bin', import.meta.url));

/** Repository root, for starting the apps' entry points. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
