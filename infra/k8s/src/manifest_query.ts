// Reading facts out of rendered objects for the manifest tests: find an object, its pod template's
// containers, a flag's value in a container's args with Kubernetes' $(VAR) references expanded
// the way the kubelet expands them, and an environment variable's literal value.
import type { K8sObject } from './kustomize_render.js';

/** The parts of a container the tests read. */
export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: ReadonlyArray<{
    readonly name: string;
    readonly value?: string;
    readonly valueFrom?: Record<string, Record<string, unknown>>;
  }>;
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort: number }>;
  readonly resources?: { readonly requests?: Record<string, unknown>; readonly limits?: Record<string, unknown> };
  readonly securityContext?: Record<string, unknown>;
  readonly volumeMounts?: ReadonlyArray<{ readonly name: string; readonly mountPath: string; readonly readOnly?: boolean }>;
  readonly readinessProbe?: { readonly httpGet?: { readonly path?: string; readonly port?: string | number } };
  readonly livenessProbe?: Record<string, unknown>;
}

/** The parts of a pod spec the tests read. */
export interface PodSpec {
  readonly containers: readonly Container[];
  readonly initContainers?: readonly Container[];
  readonly subdomain?: string;
  readonly restartPolicy?: string;
  readonly securityContext?: Record<string, unknown>;
  readonly volumes?: ReadonlyArray<{ readonly name: string; readonly secret?: { readonly secretName?: string } }>;
}

/** The one object of `kind` named `name`; throws naming what is there when it is missing. */
export function findObject(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((k8sObject) => k8sObject.kind === kind && k8sObject.metadata.name === name);
  if (found === undefined)
    throw new Error(
      `no ${kind} named ${name} among ${objects.map((k8sObject) => `${k8sObject.kind}/${k8sObject.metadata.name}`).join(', ')}`,
    );
  return found;
}

/** The objects of `kind`. */
export function objectsOf(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((k8sObject) => k8sObject.kind === kind);
}

/** `spec.template.spec` of a Deployment or Job. */
export function podSpecOf(obj: K8sObject): PodSpec {
  const spec = (obj['spec'] as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
  if (spec === undefined) throw new Error(`${obj.kind}/${obj.metadata.name} has no pod template`);
  return spec;
}

/** The container named `name` in the pod template of `obj`. */
export function containerOf(obj: K8sObject, name: string): Container {
  const container = podSpecOf(obj).containers.find((c) => c.name === name);
  if (container === undefined) throw new Error(`${obj.kind}/${obj.metadata.name} has no container ${name}`);
  return container;
}

/** Every container and init container of every pod template among `objects`, with its owner. */
export function allContainers(objects: readonly K8sObject[]): Array<{ owner: string; container: Container; init: boolean }> {
  return objects
    .filter((k8sObject) => k8sObject.kind === 'Deployment' || k8sObject.kind === 'Job')
    .flatMap((k8sObject) => {
      const spec = podSpecOf(k8sObject);
      const owner = `${k8sObject.kind}/${k8sObject.metadata.name}`;
      return [
        ...spec.containers.map((container) => ({ owner, container, init: false })),
        ...(spec.initContainers ?? []).map((container) => ({ owner, container, init: true })),
      ];
    });
}

/** The literal value of env var `name` (undefined when absent or taken from elsewhere). */
export function envValue(container: Container, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

/**
 * `text` with each `$(NAME)` replaced by the literal value of env var NAME, as the kubelet does for
 * command and args; references to unknown variables, or to ones set with valueFrom, stay as written
 * unless `extra` gives them a value. `$$` escapes a `$`.
 */
export function expandRefs(text: string, container: Container, extra: Readonly<Record<string, string>> = {}): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole: string, name: string | undefined) => {
    if (name === undefined) return '$';
    return extra[name] ?? envValue(container, name) ?? whole;
  });
}

/** The container's args, expanded. */
export function expandedArgs(container: Container, extra: Readonly<Record<string, string>> = {}): string[] {
  return (container.args ?? []).map((a) => expandRefs(a, container, extra));
}

/** The value given to `flag` (`--flag v` or `--flag=v`; the last one wins, as in commander), or undefined. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  let value: string | undefined;
  args.forEach((arg, i) => {
    if (arg === flag) value = args[i + 1];
    else if (arg.startsWith(`${flag}=`)) value = arg.slice(flag.length + 1);
  });
  return value;
}

/** Whether `flag` appears among `args` (alone or as `--flag=v`). */
export function hasFlag(args: readonly string[], flag: string): boolean {
  return args.some((a) => a === flag || a.startsWith(`${flag}=`));
}
