// Every object of every kustomization (base, gpu, tls, the example overlay), rendered by `kubectl kustomize`, passes
// both schema checks of schema_check.ts; and a deliberately broken manifest fails them: an unknown
// field (a typo of imagePullPolicy) fails the field check though the OpenAPI validator lets it
// through, and a wrong type fails both. The broken copies are made from base/worker-job.yaml as
// written (no kubectl needed for them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests, type K8sObject } from './kustomize_render.js';
import { checkFields, validateOpenApi, type ManifestSet, type SchemaProblem } from './schema_check.js';
import { K8S_DIR, renderedOrSkip } from './testing/rendered.js';

const show = (problems: readonly SchemaProblem[]): string =>
  problems.map((p) => `${p.source} ${p.kind}/${p.name} [${p.check}] ${p.message}`).join('\n');

test('every object of every kustomization passes the OpenAPI schemas and declares no field they lack', async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  const sets: ManifestSet[] = Object.entries(all).map(([source, objects]) => ({ source, objects }));
  const kinds = new Set(sets.flatMap((s) => s.objects.map((k8sObject) => k8sObject.kind)));
  assert.deepEqual([...kinds].sort(), ['Deployment', 'Job', 'PersistentVolumeClaim', 'Service']);
  const problems = [...(await validateOpenApi(sets)), ...checkFields(sets)];
  assert.deepEqual(problems, [], show(problems));
});

/** base/worker-job.yaml as written, with `mutate` applied to a deep copy. */
function brokenJob(
  mutate: (job: { spec: Record<string, unknown> & { template: { spec: { containers: Array<Record<string, unknown>> } } } }) => void,
): K8sObject {
  const [job] = parseManifests(readFileSync(join(K8S_DIR, 'base', 'worker-job.yaml'), 'utf8'), 'base/worker-job.yaml');
  const copy = structuredClone(job!) as unknown as Parameters<typeof mutate>[0];
  mutate(copy);
  return copy as unknown as K8sObject;
}

test('a broken manifest fails: an unknown field fails the field check (OpenAPI lets it pass), a wrong type fails both', async () => {
  const asWritten: ManifestSet = { source: 'as-written', objects: [brokenJob(() => undefined)] };
  const unknownField: ManifestSet = {
    source: 'unknown-field',
    objects: [brokenJob((job) => void (job.spec.template.spec.containers[0]!['imagePullPolcy'] = 'Always'))],
  };
  const wrongType: ManifestSet = { source: 'wrong-type', objects: [brokenJob((job) => void (job.spec['parallelism'] = 'two'))] };
  const sets = [asWritten, unknownField, wrongType];
  const openapi = await validateOpenApi(sets);
  const fields = checkFields(sets);
  const of = (problems: SchemaProblem[], source: string) => problems.filter((p) => p.source === source);

  assert.deepEqual([...of(openapi, 'as-written'), ...of(fields, 'as-written')], [], 'the file as written passes both');

  assert.deepEqual(of(openapi, 'unknown-field'), [], 'kubernetes-models validate() allows unknown fields: the reason for the field check');
  assert.equal(of(fields, 'unknown-field').length, 1, show(fields));
  assert.match(
    of(fields, 'unknown-field')[0]!.message,
    /Object literal may only specify known properties, and '"imagePullPolcy"' does not exist in type 'IContainer'/,
  );

  assert.equal(of(openapi, 'wrong-type').length, 1, show(openapi));
  assert.match(of(openapi, 'wrong-type')[0]!.message, /spec\/parallelism must be integer/);
  assert.equal(of(fields, 'wrong-type').length, 1, show(fields));
  assert.match(of(fields, 'wrong-type')[0]!.message, /Type 'string' is not assignable to type 'number'. \(at "parallelism": "two",?\)/);
  assert.deepEqual(
    [...of(openapi, 'wrong-type'), ...of(fields, 'wrong-type')].map((p) => [p.kind, p.name]),
    [
      ['Job', 'gnet-worker'],
      ['Job', 'gnet-worker'],
    ],
  );
});

test('an object of a kind kubernetes-models does not know fails both checks', async () => {
  const odd: ManifestSet = { source: 'odd', objects: [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }] };
  assert.match((await validateOpenApi([odd]))[0]?.message ?? '', /no model for example\.com\/v1 Widget/);
  assert.match(checkFields([odd])[0]?.message ?? '', /Cannot find module 'kubernetes-models\/example\.com\/v1\/Widget'/);
});
