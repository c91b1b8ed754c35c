// The kustomizations under infra/k8s rendered once per test process, and the skip-or-fail policy
// of every infra test (infra/netns): without kubectl a test skips with one line saying what to
// install, except under GNET_INFRA_REQUIRED=1 (CI), where that line fails it.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { requireOrSkip, type SkippableTest } from '../../../netns/src/availability.js';
import { kubectlUnavailableReason, renderKustomization, type K8sObject } from '../kustomize_render.js';

/** infra/k8s. */
export const K8S_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** Every kustomization a user may apply (and the example of a user's own), by the name the README uses. */
export const KUSTOMIZATIONS = {
  base: 'base',
  gpu: 'overlays/gpu',
  tls: 'overlays/tls',
  'example-gpu-4-workers': 'examples/gpu-4-workers',
} as const;
export type KustomizationName = keyof typeof KUSTOMIZATIONS;

let rendered: Promise<Record<KustomizationName, K8sObject[]>> | null = null;

async function renderAll(): Promise<Record<KustomizationName, K8sObject[]>> {
  const entries = await Promise.all(
    (Object.keys(KUSTOMIZATIONS) as KustomizationName[]).map(
      async (name) => [name, await renderKustomization(join(K8S_DIR, KUSTOMIZATIONS[name]))] as const,
    ),
  );
  return Object.fromEntries(entries) as Record<KustomizationName, K8sObject[]>;
}

/** Every kustomization rendered (once per process), or null when the test was skipped for want of kubectl. */
export async function renderedOrSkip(t: SkippableTest): Promise<Record<KustomizationName, K8sObject[]> | null> {
  if (!requireOrSkip(t, await kubectlUnavailableReason())) return null;
  rendered ??= renderAll();
  return rendered;
}
