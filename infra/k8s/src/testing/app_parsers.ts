// Runs the apps' own flag parsers (parseCoordinatorConfig, parseServeConfig) on flags taken from
// the rendered manifests, in one child process on the TypeScript sources (tsx), so a manifest can
// never carry a flag the apps do not know or a combination they refuse. A child process, not an
// import: infra depends on no app, and the parsers pull in their apps' dependencies.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Container } from '../manifest_query.js';
import { K8S_DIR } from './rendered.js';

/** The repository root. */
export const REPO = join(K8S_DIR, '..', '..');
/** tsx start-up and the imports of both config modules: seconds; bounded for a loaded machine. */
const PARSE_TIMEOUT_MS = 120_000;

/** Flags and environment of one process to parse. */
export interface ParseInput {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** Runs the apps' parsers (TypeScript sources, through tsx) on `input`; returns what they resolved. */
export function parseWithApps(input: {
  coordinators: Record<string, ParseInput>;
  workers: Record<string, ParseInput>;
}): Promise<Record<string, unknown>> {
  const script = `
    const input = JSON.parse(process.env.GNET_K8S_FLAGS);
    const { parseCoordinatorConfig } = await import(${JSON.stringify(join(REPO, 'apps/coordinator/src/coordinator_config.ts'))});
    const { parseServeConfig } = await import(${JSON.stringify(join(REPO, 'apps/worker/src/serve_config.ts'))});
    const out = {};
    for (const [name, c] of Object.entries(input.coordinators)) out['coordinator ' + name] = parseCoordinatorConfig(c.args, c.env, '/runs');
    for (const [name, w] of Object.entries(input.workers)) out['worker ' + name] = parseServeConfig(w.args, w.env, 1);
    process.stdout.write(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: REPO, env: { ...process.env, GNET_K8S_FLAGS: JSON.stringify(input) }, timeout: PARSE_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err === null ? resolve(JSON.parse(stdout) as Record<string, unknown>) : reject(new Error(`${err.message}\n${stderr}`)),
    );
  });
}

/** The literal env of a container, with the values Kubernetes would give the valueFrom ones. */
export function envOf(container: Container, fromElsewhere: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...fromElsewhere };
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}
