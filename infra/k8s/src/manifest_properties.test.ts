// What the rendered manifests must say for a run to work, checked on every kustomization: stable
// worker names (Indexed Job + headless Service + $(JOB_COMPLETION_INDEX)), coordinator flags that
// agree with the Job's size, the token only from a Secret, GPU and TLS overlays doing what they
// claim, probes on the ports the flags choose, non-root pods with resource requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { K8sObject } from './kustomize_render.js';
import {
  allContainers,
  containerOf,
  envValue,
  expandedArgs,
  findObject,
  flagValue,
  hasFlag,
  objectsOf,
  podSpecOf,
  type Container,
} from './manifest_query.js';
import { KUSTOMIZATIONS, renderedOrSkip, type KustomizationName } from './testing/rendered.js';

const NAMES = Object.keys(KUSTOMIZATIONS) as KustomizationName[];

interface JobSpec {
  completionMode?: string;
  completions?: number;
  parallelism?: number;
  backoffLimitPerIndex?: number;
  maxFailedIndexes?: number;
  podReplacementPolicy?: string;
}
interface ServiceSpec {
  clusterIP?: string;
  publishNotReadyAddresses?: boolean;
  selector?: Record<string, string>;
  ports?: Array<{ name?: string; port: number; targetPort?: string | number }>;
}

const spec = <T>(k8sObject: K8sObject): T => k8sObject['spec'] as T;
const coordinatorOf = (objects: K8sObject[]) => containerOf(findObject(objects, 'Deployment', 'gnet-coordinator'), 'coordinator');
const workerJobOf = (objects: K8sObject[]) => findObject(objects, 'Job', 'gnet-worker');
const workerOf = (objects: K8sObject[]) => containerOf(workerJobOf(objects), 'worker');
const intFlag = (args: string[], flag: string): number => Number(flagValue(args, flag));

test('each worker advertises <job>-$(JOB_COMPLETION_INDEX).<subdomain>, and the subdomain is a headless Service selecting the workers', async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  for (const name of NAMES) {
    const job = workerJobOf(all[name]);
    const pod = podSpecOf(job);
    assert.equal(spec<JobSpec>(job).completionMode, 'Indexed', name);
    assert.ok(pod.subdomain, `${name}: the pod template sets a subdomain`);
    const args = expandedArgs(workerOf(all[name]));
    assert.equal(flagValue(args, '--advertise-host'), `${job.metadata.name}-$(JOB_COMPLETION_INDEX).${pod.subdomain}`, name);
    assert.equal(flagValue(args, '--peer-host'), '0.0.0.0', `${name}: the ring listener listens beyond the loopback`);
    const service = findObject(all[name], 'Service', pod.subdomain);
    const s = spec<ServiceSpec>(service);
    assert.equal(s.clusterIP, 'None', `${name}: headless`);
    assert.equal(s.publishNotReadyAddresses, true, `${name}: names resolve before any readiness`);
    const labels = (job['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    for (const [k, v] of Object.entries(s.selector ?? {}))
      assert.equal(labels[k], v, `${name}: the Service selects the worker pods (${k})`);
    const peerPort = intFlag(args, '--peer-port');
    assert.ok(
      s.ports?.some((p) => p.port === peerPort),
      `${name}: the Service names the ring port ${peerPort}`,
    );
    assert.ok(
      workerOf(all[name]).ports?.some((p) => p.containerPort === peerPort),
      `${name}: the container declares the ring port`,
    );
  }
});

test("the coordinator's --workers equals the Job's parallelism and completions; --min/--max-workers and the Job's failure budget agree", async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  for (const name of NAMES) {
    const args = expandedArgs(coordinatorOf(all[name]));
    const job: JobSpec = spec<JobSpec>(workerJobOf(all[name]));
    const [workers, min, max] = [intFlag(args, '--workers'), intFlag(args, '--min-workers'), intFlag(args, '--max-workers')];
    assert.equal(job.parallelism, workers, `${name}: parallelism = --workers`);
    assert.equal(job.completions, workers, `${name}: completions = --workers`);
    assert.ok(
      min >= 1 && min <= workers && workers <= max,
      `${name}: 1 <= --min-workers (${min}) <= --workers (${workers}) <= --max-workers (${max})`,
    );
    assert.ok((job.backoffLimitPerIndex ?? 0) >= 1, `${name}: a failed worker pod is replaced (backoffLimitPerIndex)`);
    assert.ok(
      (job.maxFailedIndexes ?? Infinity) <= workers - min,
      `${name}: the Job gives up on no more workers than --min-workers lets the run lose`,
    );
    assert.equal(job.podReplacementPolicy, 'Failed', `${name}: two pods never share an index's host name`);
    assert.equal(podSpecOf(workerJobOf(all[name])).restartPolicy, 'Never', name);
  }
});

test('no object holds a token: GNET_TOKEN comes from the Secret gnet-token, never a literal or a --token flag', async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  for (const name of NAMES) {
    assert.deepEqual(objectsOf(all[name], 'Secret'), [], `${name}: no Secret is rendered (you create gnet-token)`);
    assert.ok(!JSON.stringify(all[name]).includes('--token'), `${name}: no --token flag`);
    for (const { owner, container, init } of allContainers(all[name])) {
      if (init) continue;
      const token = container.env?.find((e) => e.name === 'GNET_TOKEN');
      assert.equal(token?.value, undefined, `${name} ${owner}: no literal token`);
      assert.deepEqual(token?.valueFrom, { secretKeyRef: { name: 'gnet-token', key: 'token' } }, `${name} ${owner}`);
    }
  }
});

test('gpu: one nvidia.com/gpu per worker, the GPU image, native TensorFlow demanded with --require-gpu; the coordinator stays on the CPU image', async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  const worker = workerOf(all.gpu);
  assert.equal(Number(worker.resources?.limits?.['nvidia.com/gpu']), 1);
  assert.equal(worker.image, 'localhost/gnet:worker-gpu');
  for (const init of podSpecOf(workerJobOf(all.gpu)).initContainers ?? []) assert.equal(init.image, 'localhost/gnet:worker-gpu', init.name);
  const args = expandedArgs(worker);
  assert.equal(flagValue(args, '--backend'), 'tensorflow');
  assert.ok(hasFlag(args, '--require-gpu'));
  assert.equal(coordinatorOf(all.gpu).image, 'localhost/gnet:cpu');
  assert.equal(coordinatorOf(all.gpu).resources?.limits?.['nvidia.com/gpu'], undefined);
  for (const name of ['base', 'tls'] as const) {
    assert.ok(!JSON.stringify(all[name]).includes('nvidia.com/gpu'), `${name} asks for no GPU`);
    assert.equal(workerOf(all[name]).image, 'localhost/gnet:cpu', name);
  }
});

/** The mount path of the read-only volume backed by Secret `secret` in `container`, or undefined. */
function secretMount(obj: K8sObject, container: Container, secret: string): string | undefined {
  const volume = podSpecOf(obj).volumes?.find((v) => v.secret?.secretName === secret);
  const mount = container.volumeMounts?.find((m) => m.name === volume?.name);
  return mount?.readOnly === true ? mount.mountPath : undefined;
}

test('tls: workers dial wss:// the coordinator Service; every --tls-* file lies in the mounted certificate Secret', async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  const rendezvous = spec<ServiceSpec>(findObject(all.tls, 'Service', 'gnet-coordinator')).ports?.find(
    (p) => p.name === 'rendezvous',
  )?.port;
  for (const name of NAMES) {
    const scheme = name === 'tls' ? 'wss' : 'ws';
    assert.equal(envValue(workerOf(all[name]), 'GNET_COORDINATOR'), `${scheme}://gnet-coordinator:${rendezvous}`, name);
    assert.equal(intFlag(expandedArgs(coordinatorOf(all[name])), '--port'), rendezvous, `${name}: the Service's rendezvous port is --port`);
  }
  const deployment = findObject(all.tls, 'Deployment', 'gnet-coordinator');
  const job = workerJobOf(all.tls);
  const cases: Array<[K8sObject, Container, string[]]> = [
    [deployment, coordinatorOf(all.tls), ['--tls-cert', '--tls-key']],
    [job, workerOf(all.tls), ['--tls-ca', '--tls-cert', '--tls-key']],
  ];
  for (const [obj, container, flags] of cases) {
    const dir = secretMount(obj, container, 'gnet-tls');
    assert.ok(dir, `${obj.kind}: Secret gnet-tls mounted read-only`);
    for (const flag of flags)
      assert.match(flagValue(expandedArgs(container), flag) ?? '', new RegExp(`^${dir}/[a-z.]+$`), `${obj.kind} ${flag}`);
  }
  for (const name of ['base', 'gpu'] as const) assert.ok(!JSON.stringify(all[name]).includes('--tls-'), `${name}: no TLS flags`);
});

test('the coordinator: one replica, Recreate, the Service and probes on the ports --port and --dashboard-port choose', async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  for (const name of NAMES) {
    const deployment = findObject(all[name], 'Deployment', 'gnet-coordinator');
    const s = spec<{ replicas?: number; strategy?: { type?: string } }>(deployment);
    assert.deepEqual([s.replicas, s.strategy?.type], [1, 'Recreate'], name);
    const c = coordinatorOf(all[name]);
    const args = expandedArgs(c);
    assert.equal(flagValue(args, '--host'), '0.0.0.0', name);
    const portNamed = (n: string) => c.ports?.find((p) => p.name === n)?.containerPort;
    assert.equal(portNamed('rendezvous'), intFlag(args, '--port'), name);
    assert.equal(portNamed('dashboard'), intFlag(args, '--dashboard-port'), name);
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/metrics', port: 'dashboard' }, name);
    assert.ok(c.livenessProbe, `${name}: liveness probe`);
    const service: ServiceSpec = spec<ServiceSpec>(findObject(all[name], 'Service', 'gnet-coordinator'));
    assert.deepEqual(
      service.ports?.map((p) => [p.name, p.port, p.targetPort]),
      [
        ['rendezvous', intFlag(args, '--port'), 'rendezvous'],
        ['dashboard', intFlag(args, '--dashboard-port'), 'dashboard'],
      ],
      name,
    );
    const runDir = flagValue(args, '--run-dir') ?? '';
    assert.ok(
      c.volumeMounts?.some((m) => runDir.startsWith(`${m.mountPath}/`) && m.readOnly !== true),
      `${name}: --run-dir ${runDir} is on a writable volume`,
    );
  }
});

test('every pod runs as non-root without privilege escalation, and every container requests CPU and memory and caps memory', async (t) => {
  const all = await renderedOrSkip(t);
  if (all === null) return;
  for (const name of NAMES) {
    for (const obj of [...objectsOf(all[name], 'Deployment'), ...objectsOf(all[name], 'Job')]) {
      assert.equal(podSpecOf(obj).securityContext?.['runAsNonRoot'], true, `${name} ${obj.kind}`);
    }
    for (const { owner, container } of allContainers(all[name]) as Array<{ owner: string; container: Container }>) {
      const where: string = `${name} ${owner} ${container.name}`;
      assert.equal(container.securityContext?.['allowPrivilegeEscalation'], false, where);
      assert.equal(container.securityContext?.['readOnlyRootFilesystem'], true, where);
      assert.ok(
        container.resources?.requests?.['cpu'] !== undefined && container.resources.requests['memory'] !== undefined,
        `${where}: requests`,
      );
      assert.ok(container.resources?.limits?.['memory'] !== undefined, `${where}: memory limit`);
    }
  }
});
