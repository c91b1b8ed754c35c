// The mount point a path lives on, so a "disk full" message can say which disk to clear (what
// `df <path>` prints in its last column). Linux lists mounts in /proc/self/mounts; elsewhere, or
// when that cannot be read, the nearest existing folder stands in for it.
import { readFile, realpath } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';

/** The nearest existing folder at or above `path`, with symbolic links resolved. */
async function nearestExisting(path: string): Promise<string> {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      return await realpath(dir);
    } catch {
      if (dirname(dir) === dir) return dir;
    }
  }
}

/** A mount point as /proc/self/mounts spells it: space, tab, newline and backslash as octal escapes. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * The mount point holding `path` (which need not exist yet): the longest mount point in
 * `mountsText` (the text of /proc/self/mounts, read when not given) that contains it.
 *
 * @example
 * await mountPointOf('/mnt/scratch/runs/x/checkpoints/ckpt-000000010.ckpt') // '/mnt/scratch'
 */
export async function mountPointOf(path: string, mountsText?: string): Promise<string> {
  const existing = await nearestExisting(path);
  let text = mountsText;
  if (text === undefined) {
    try {
      text = await readFile('/proc/self/mounts', 'utf8');
    } catch {
      return existing;
    }
  }
  let best: string | null = null;
  for (const line of text.split('\n')) {
    const field = line.split(' ')[1];
    if (field === undefined) continue;
    const mount = unescapeMountPath(field);
    const inside = mount === sep || existing === mount || existing.startsWith(mount + sep);
    if (inside && (best === null || mount.length > best.length)) best = mount;
  }
  return best ?? existing;
}
