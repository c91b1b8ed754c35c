// Where a relative path on a command line points. `nx run app:target` runs the app's npm script
// inside the app's folder, and npm then sets INIT_CWD to that same folder: the folder the user
// typed the command in is lost. So under nx (INIT_CWD === cwd, inside the workspace) relative
// paths mean the workspace root, where nx commands are typed; when npm was started elsewhere
// (INIT_CWD differs) they mean INIT_CWD; and run directly with node, the current folder.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;

/** The nearest folder at or above `from` holding nx.json, or `from` when there is none. */
export function workspaceRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

/** The folder relative command-line paths are resolved against (see the header). */
export function userDirectory(env: Env, cwd = process.cwd()): string {
  const initCwd = env['INIT_CWD'];
  if (initCwd === undefined || initCwd === '') return cwd;
  return resolve(initCwd) === resolve(cwd) ? workspaceRoot(cwd) : initCwd;
}

/** `path` made absolute against {@link userDirectory}; absolute paths and '' are returned as they are. */
export function resolveUserPath(path: string, env: Env, cwd = process.cwd()): string {
  return path === '' || isAbsolute(path) ? path : resolve(userDirectory(env, cwd), path);
}
