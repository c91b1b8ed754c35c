// Lint for the whole workspace: typescript-eslint's recommended rules, nx module boundaries, and
// Prettier's formatting (.prettierrc.json) as a lint error, so unformatted code fails `npm test`.
// The boundaries follow shared/STYLE.md's layer table: each constraint forbids something real
// (the coordinator can never pull in TensorFlow.js, the collective never sees the model, ...).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';
import prettierRecommended from 'eslint-plugin-prettier/recommended';

const TFJS = ['@tensorflow/*'];

/** The library layers: what an app, the cluster tooling, a test or a benchmark builds on. */
const LIBRARIES = ['recipe', 'protocol', 'collective', 'data', 'model', 'training', 'run-store', 'backend'];

/**
 * Each project's layer (its nx tag is `layer:<name>`): the layers it may import (`dependsOn`) and the
 * external packages it must never load (`banned`). One row per layer, read as shared/STYLE.md's table.
 */
const LAYERS = {
  // The recipe (flags, defaults, the wire HyperParams, config helpers) depends on nothing of
  // ours: both apps and the protocol import it, so it never sees tensors, sockets or logs.
  recipe: { dependsOn: [], banned: [...TFJS, 'ws', 'msgpackr', 'pino'] },
  // The wire format depends on nothing of ours but the recipe and never on a tensor library.
  protocol: { dependsOn: ['recipe'], banned: [...TFJS, 'ws'] },
  // All-reduce moves plain buffers: it knows the protocol, never the model or tfjs.
  collective: { dependsOn: ['protocol', 'recipe'], banned: TFJS },
  // The model knows nothing about the network or the data on disk.
  model: { dependsOn: [], banned: ['ws', 'msgpackr', 'pino'] },
  // Data is plain bytes: no tensors, no network protocol.
  data: { dependsOn: [], banned: [...TFJS, 'ws', 'msgpackr'] },
  // The run folder (metrics, chart, checkpoints) is plain files: no tensors, no wire.
  'run-store': { dependsOn: [], banned: [...TFJS, 'ws', 'msgpackr'] },
  // A TF.js backend (native kernels under tfjs-backend-cpu's storage): tensors only, no wire, no logs.
  backend: { dependsOn: [], banned: ['ws', 'msgpackr', 'pino'] },
  // Training owns model + data + tfjs, but not the wire.
  training: { dependsOn: ['recipe', 'model', 'data', 'run-store', 'backend'], banned: ['ws', 'msgpackr'] },
  // The coordinator never loads TensorFlow.js: it must run on a machine without it.
  coordinator: { dependsOn: ['recipe', 'protocol', 'collective', 'data', 'run-store'], banned: TFJS },
  worker: { dependsOn: LIBRARIES },
  // Cluster tooling (containers, Slurm, Kubernetes, network-namespace hosts): its tests may
  // drive anything of ours as processes; test and bench use its netns hosts.
  infra: { dependsOn: LIBRARIES },
  // Integration tests may also import both apps in-process (recipe_parsers.test.ts parses
  // coordinator:serve's and worker:train's flags side by side).
  test: { dependsOn: ['coordinator', 'worker', 'infra', ...LIBRARIES] },
  bench: { dependsOn: ['infra', ...LIBRARIES] },
};

/** `LAYERS` as @nx/enforce-module-boundaries constraints. */
const DEP_CONSTRAINTS = Object.entries(LAYERS).map(([layer, { dependsOn, banned }]) => ({
  sourceTag: `layer:${layer}`,
  onlyDependOnLibsWithTags: dependsOn.map((name) => `layer:${name}`),
  ...(banned === undefined ? {} : { bannedExternalImports: banned }),
}));

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', 'runs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: DEP_CONSTRAINTS,
        },
      ],
    },
  },
  // Last, so it switches off the stylistic rules it replaces.
  prettierRecommended,
  {
    // Prettier wraps code but not strings, regular expressions or comments: the rest of the 140 is ours.
    rules: {
      'max-len': ['error', { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
);
