// The layer boundaries of shared/STYLE.md are enforced, not decoration: eslint (with the workspace's
// own config and nx project graph) must reject imports that cross them, and accept allowed ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { REPO_ROOT } from './cifar_dir.js';

const eslint = new ESLint({ cwd: REPO_ROOT });

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

test('the coordinator can never import TensorFlow.js or the training package', { timeout: 120_000 }, async () => {
  const tfjs = await boundaryErrors(
    'apps/coordinator/src/probe.ts',
    "import * as tf from '@tensorflow/tfjs-core';\nexport const x = tf;\n",
  );
  assert.match(tfjs.join('\n'), /layer:coordinator.*not allowed to import "@tensorflow\/tfjs-core"/);
  const training = await boundaryErrors(
    'apps/coordinator/src/probe.ts',
    "import { Replica } from '@gnet/training';\nexport const x = Replica;\n",
  );
  assert.ok(training.length > 0, 'importing @gnet/training from the coordinator must be an error');
});

test('data, protocol and collective stay below the model and tfjs', { timeout: 120_000 }, async () => {
  assert.ok(
    (
      await boundaryErrors(
        'packages/data/src/probe.ts',
        "import { createGoogLeNet } from '@gnet/model';\nexport const x = createGoogLeNet;\n",
      )
    ).length > 0,
  );
  assert.ok(
    (await boundaryErrors('packages/protocol/src/probe.ts', "import { WebSocket } from 'ws';\nexport const x = WebSocket;\n")).length > 0,
  );
  assert.ok(
    (
      await boundaryErrors(
        'packages/collective/src/probe.ts',
        "import { createGoogLeNet } from '@gnet/model';\nexport const x = createGoogLeNet;\n",
      )
    ).length > 0,
  );
});

test('allowed imports pass', { timeout: 120_000 }, async () => {
  assert.deepEqual(
    await boundaryErrors(
      'apps/worker/src/probe.ts',
      "import { Replica } from '@gnet/training';\nimport { planBuckets } from '@gnet/collective';\nexport const x = [Replica, planBuckets];\n",
    ),
    [],
  );
  assert.deepEqual(
    await boundaryErrors(
      'packages/training/src/probe.ts',
      "import { createGoogLeNet } from '@gnet/model';\nexport const x = createGoogLeNet;\n",
    ),
    [],
  );
});
