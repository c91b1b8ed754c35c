// Lint for the whole workspace: typescript-eslint's recommended rules, nx module boundaries, and
// Prettier's formatting (.prettierrc.json) as a lint error, so unformatted code fails `npm test`.
// The boundaries follow shared/STYLE.md's layer table: each constraint forbids something real
// (the coordinator can never pull in TensorFlow.js, the collective never sees the model, ...).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';
import prettierRecommended from 'eslint-plugin-prettier/recommended';

const TFJS = ['@tensorflow/*'];

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
          depConstraints: [
            // The recipe (flags, defaults, the wire HyperParams, config helpers) depends on nothing of
            // ours: both apps and the protocol import it, so it never sees tensors, sockets or logs.
            { sourceTag: 'layer:recipe', onlyDependOnLibsWithTags: [], bannedExternalImports: [...TFJS, 'ws', 'msgpackr', 'pino'] },
            // The wire format depends on nothing of ours but the recipe and never on a tensor library.
            { sourceTag: 'layer:protocol', onlyDependOnLibsWithTags: ['layer:recipe'], bannedExternalImports: [...TFJS, 'ws'] },
            // All-reduce moves plain buffers: it knows the protocol, never the model or tfjs.
            { sourceTag: 'layer:collective', onlyDependOnLibsWithTags: ['layer:protocol', 'layer:recipe'], bannedExternalImports: TFJS },
            // The model knows nothing about the network or the data on disk.
            { sourceTag: 'layer:model', onlyDependOnLibsWithTags: [], bannedExternalImports: ['ws', 'msgpackr', 'pino'] },
            // Data is plain bytes: no tensors, no network protocol.
            { sourceTag: 'layer:data', onlyDependOnLibsWithTags: [], bannedExternalImports: [...TFJS, 'ws', 'msgpackr'] },
            // The run folder (metrics, chart, checkpoints) is plain files: no tensors, no wire.
            { sourceTag: 'layer:run-store', onlyDependOnLibsWithTags: [], bannedExternalImports: [...TFJS, 'ws', 'msgpackr'] },
            // A TF.js backend (native kernels under tfjs-backend-cpu's storage): tensors only, no wire, no logs.
            { sourceTag: 'layer:backend', onlyDependOnLibsWithTags: [], bannedExternalImports: ['ws', 'msgpackr', 'pino'] },
            // Training owns model + data + tfjs, but not the wire.
            {
              sourceTag: 'layer:training',
              onlyDependOnLibsWithTags: ['layer:recipe', 'layer:model', 'layer:data', 'layer:run-store', 'layer:backend'],
              bannedExternalImports: ['ws', 'msgpackr'],
            },
            // The coordinator never loads TensorFlow.js: it must run on a machine without it.
            {
              sourceTag: 'layer:coordinator',
              onlyDependOnLibsWithTags: ['layer:recipe', 'layer:protocol', 'layer:collective', 'layer:data', 'layer:run-store'],
              bannedExternalImports: TFJS,
            },
            {
              sourceTag: 'layer:worker',
              onlyDependOnLibsWithTags: [
                'layer:recipe',
                'layer:protocol',
                'layer:collective',
                'layer:data',
                'layer:model',
                'layer:training',
                'layer:run-store',
                'layer:backend',
              ],
            },
            // Cluster tooling (containers, Slurm, Kubernetes, network-namespace hosts): its tests may
            // drive anything of ours as processes; test and bench use its netns hosts.
            {
              sourceTag: 'layer:infra',
              onlyDependOnLibsWithTags: [
                'layer:recipe',
                'layer:protocol',
                'layer:collective',
                'layer:data',
                'layer:model',
                'layer:training',
                'layer:run-store',
                'layer:backend',
              ],
            },
            // Integration tests may also import both apps in-process (recipe_parsers.test.ts parses
            // coordinator:serve's and worker:train's flags side by side).
            {
              sourceTag: 'layer:test',
              onlyDependOnLibsWithTags: [
                'layer:coordinator',
                'layer:worker',
                'layer:infra',
                'layer:recipe',
                'layer:protocol',
                'layer:collective',
                'layer:data',
                'layer:model',
                'layer:training',
                'layer:run-store',
                'layer:backend',
              ],
            },
            {
              sourceTag: 'layer:bench',
              onlyDependOnLibsWithTags: [
                'layer:infra',
                'layer:recipe',
                'layer:protocol',
                'layer:collective',
                'layer:data',
                'layer:model',
                'layer:training',
                'layer:run-store',
                'layer:backend',
              ],
            },
          ],
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
