// Renders the kustomizations under infra/k8s with `kubectl kustomize` (kubectl's embedded kustomize;
// Debian 12's `kubernetes-client` 1.20 carries v2.0.3, which is why the manifests use `bases`,
// `patchesStrategicMerge` and `patchesJson6902`) and parses the output into plain objects. No
// cluster is contacted: rendering is local.
import { execFile } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

/** The Debian package that provides `kubectl` (and so `kubectl kustomize`); .ci/run installs it. */
export const KUBECTL_APT_PACKAGE = 'kubernetes-client';

/** Bound on one `kubectl` call: rendering takes well under a second. */
const KUBECTL_TIMEOUT_MS = 60_000;
/** Bound on what one render may print: the manifests are a few kilobytes. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** One rendered Kubernetes object, as parsed from YAML. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

/** `kubectl kustomize` failed, printed something that is not YAML, or an object lacks its type or name. */
export class KustomizeRenderError extends Error {
  override readonly name = 'KustomizeRenderError';
  readonly code = 'K8S_RENDER_FAILED';
}

/** The kubectl binary to use: `GNET_KUBECTL` (a path), else `kubectl` on PATH. */
export function kubectlCommand(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env['GNET_KUBECTL'] || 'kubectl';
}

function run(command: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { timeout: KUBECTL_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stdout, stderr });
      const code = (err as { code?: unknown }).code;
      // A number is the exit status; a string (ENOENT, EACCES) means it never ran.
      if (typeof code === 'number') return resolve({ code, stdout, stderr });
      reject(err);
    });
  });
}

/**
 * Null when `kubectl kustomize` can run here, else one line saying what to install.
 * `kubectl version --client` needs no cluster and exits 0 on every version since 1.14.
 */
export async function kubectlUnavailableReason(env: Readonly<Record<string, string | undefined>> = process.env): Promise<string | null> {
  const kubectl = kubectlCommand(env);
  const why = `rendering the Kubernetes manifests needs \`kubectl\` (apt-get install ${KUBECTL_APT_PACKAGE}, or GNET_KUBECTL=<path>)`;
  try {
    const result = await run(kubectl, ['version', '--client']);
    if (result.code !== 0)
      return `${why}, but \`${kubectl} version --client\` exited ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`;
    return null;
  } catch (err) {
    return `${why}, but ${kubectl} could not be run: ${(err as Error).message}`;
  }
}

/** The objects `kubectl kustomize dir` renders, in its order. */
export async function renderKustomization(
  dir: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<K8sObject[]> {
  const kubectl = kubectlCommand(env);
  const result = await run(kubectl, ['kustomize', dir]);
  if (result.code !== 0) throw new KustomizeRenderError(`\`${kubectl} kustomize ${dir}\` exited ${result.code}: ${result.stderr.trim()}`);
  return parseManifests(result.stdout, dir);
}

/** Parses a multi-document YAML stream into objects, refusing YAML errors and objects without type or name. */
export function parseManifests(text: string, source: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new KustomizeRenderError(`${source}: document ${i} is not valid YAML: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const candidate = value as Partial<K8sObject>;
    if (typeof candidate.apiVersion !== 'string' || typeof candidate.kind !== 'string' || typeof candidate.metadata?.name !== 'string') {
      throw new KustomizeRenderError(`${source}: document ${i} has no apiVersion, kind and metadata.name`);
    }
    objects.push(candidate as K8sObject);
  }
  return objects;
}
