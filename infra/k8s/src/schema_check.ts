// Checks rendered Kubernetes objects against the API's OpenAPI schemas, twice over, because each
// check misses what the other catches:
//  - `openapi`: kubernetes-models' validate() (ajv over the OpenAPI schema of Kubernetes 1.30):
//    types, required fields, enums. It allows properties the schema does not declare, so a typo
//    such as `imagePullPolcy` passes it (and the API server would drop the field silently).
//  - `fields`: each object written out as a TypeScript object literal that `satisfies` the
//    package's interface for its kind (`IDeployment`, `IJob`, ...) and type-checked: TypeScript's
//    excess-property check rejects every field the interface does not declare, at any depth.
// The TypeScript files go to a temporary folder, removed afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './kustomize_render.js';

/** One thing wrong with one object. */
export interface SchemaProblem {
  /** Where the object came from (the kustomization rendered). */
  readonly source: string;
  readonly kind: string;
  readonly name: string;
  readonly check: 'openapi' | 'fields';
  readonly message: string;
}

/** Objects rendered from one source. */
export interface ManifestSet {
  readonly source: string;
  readonly objects: readonly K8sObject[];
}

/** An apiVersion and kind we can map onto a module path of kubernetes-models without surprises. */
const API_VERSION = /^(?:[a-z0-9.-]+\/)?v\d+(?:(?:alpha|beta)\d+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

/** `kubernetes-models/<group>/<version>/<Kind>` (the core group has no prefix), or null for a malformed type. */
export function modelModule(obj: Pick<K8sObject, 'apiVersion' | 'kind'>): string | null {
  if (!API_VERSION.test(obj.apiVersion) || !KIND.test(obj.kind)) return null;
  return `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
}

const problem = (set: ManifestSet, obj: K8sObject, check: SchemaProblem['check'], message: string): SchemaProblem => ({
  source: set.source,
  kind: obj.kind,
  name: obj.metadata.name,
  check,
  message,
});

/** Runs kubernetes-models' validate() on every object; returns what it rejected. */
export async function validateOpenApi(sets: readonly ManifestSet[]): Promise<SchemaProblem[]> {
  const problems: SchemaProblem[] = [];
  for (const set of sets) {
    for (const obj of set.objects) {
      const path = modelModule(obj);
      let Model: (new (data: unknown) => { validate(): void }) | undefined;
      try {
        if (path !== null) Model = ((await import(path)) as Record<string, typeof Model>)[obj.kind];
      } catch {
        // No such module: reported below as an unknown type.
      }
      if (Model === undefined) {
        problems.push(problem(set, obj, 'openapi', `kubernetes-models has no model for ${obj.apiVersion} ${obj.kind}`));
        continue;
      }
      try {
        new Model(obj).validate();
      } catch (err) {
        problems.push(problem(set, obj, 'openapi', (err as Error).message));
      }
    }
  }
  return problems;
}

/** The folder kubernetes-models is installed in, wherever npm put it. */
function modelsDir(): string {
  return dirname(createRequire(import.meta.url).resolve('kubernetes-models/package.json'));
}

/**
 * Type-checks every object as `{...} satisfies I<Kind>` in one TypeScript program; returns each
 * diagnostic as a `fields` problem of its object (unknown fields, wrong types, missing required
 * fields, unknown kinds).
 */
export function checkFields(sets: readonly ManifestSet[]): SchemaProblem[] {
  const dir = mkdtempSync(join(tmpdir(), 'gnet-k8s-fields-'));
  try {
    const owners = new Map<string, { set: ManifestSet; obj: K8sObject }>();
    const problems: SchemaProblem[] = [];
    sets.forEach((set, s) =>
      set.objects.forEach((obj, i) => {
        const path = modelModule(obj);
        if (path === null) {
          problems.push(
            problem(
              set,
              obj,
              'fields',
              `no kubernetes-models interface for apiVersion ${JSON.stringify(obj.apiVersion)} kind ${JSON.stringify(obj.kind)}`,
            ),
          );
          return;
        }
        const file = join(dir, `set${s}-object${i}.ts`);
        // JSON is a TypeScript object literal; indented so that a diagnostic's line shows the field.
        writeFileSync(
          file,
          `import type { I${obj.kind} } from '${path}';\nexport const object = ${JSON.stringify(obj, null, 2)} satisfies I${obj.kind};\n`,
        );
        owners.set(file, { set, obj });
      }),
    );
    const program = ts.createProgram([...owners.keys()], {
      noEmit: true,
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      skipLibCheck: true,
      types: [],
      // The generated files live outside the workspace: point the package name at its install.
      paths: { 'kubernetes-models/*': [`${modelsDir()}/*`] },
    });
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const owner = d.file === undefined ? undefined : owners.get(d.file.fileName);
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      if (owner === undefined) {
        // A diagnostic outside the generated files (a broken install): it fails every check.
        problems.push({ source: '(program)', kind: '', name: '', check: 'fields', message });
        continue;
      }
      const line = d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line;
      const text = d.file!.text.split('\n')[line]?.trim() ?? '';
      problems.push(problem(owner.set, owner.obj, 'fields', `${message} (at ${text})`));
    }
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
