// Whether this machine can run a throwaway Slurm cluster: the daemons and clients of Debian's
// `slurm-wlm` (22.05) and `munge`, found on PATH. Null when all are there, else one line naming
// the first one missing and the packages to install (the test skips with it, or fails under
// GNET_INFRA_REQUIRED=1; see infra/netns's requireOrSkip).
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The apt packages that provide every program below. */
export const SLURM_APT_PACKAGES = 'slurm-wlm munge';

/** Programs the test starts or calls, and the package each comes from. */
const PROGRAMS: ReadonlyArray<readonly [string, string]> = [
  ['slurmctld', 'slurm-wlm'],
  ['slurmd', 'slurm-wlm'],
  ['sbatch', 'slurm-wlm'],
  ['scontrol', 'slurm-wlm'],
  ['scancel', 'slurm-wlm'],
  ['sinfo', 'slurm-wlm'],
  ['munged', 'munge'],
  ['unshare', 'util-linux'],
];

/** The first executable called `name` on `path` (`:`-separated), or null. */
export async function findOnPath(name: string, path: string): Promise<string | null> {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; the next folder.
    }
  }
  return null;
}

/**
 * Null when every Slurm and munge program is on PATH (daemons live in /usr/sbin, which a
 * non-login PATH may lack: it is searched too), else what to install.
 */
export async function slurmUnavailableReason(env: Readonly<Record<string, string | undefined>> = process.env): Promise<string | null> {
  const path = [env['PATH'] ?? '', '/usr/sbin', '/usr/bin'].join(delimiter);
  for (const [program, pkg] of PROGRAMS) {
    if ((await findOnPath(program, path)) === null) {
      return `the Slurm test needs \`${program}\` on PATH (apt-get install --no-install-recommends ${pkg === 'util-linux' ? pkg : SLURM_APT_PACKAGES})`;
    }
  }
  return null;
}
