// Relative command-line paths under nx, npm and plain node (real folders of this checkout).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { resolveUserPath, userDirectory, workspaceRoot } from './user_path.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const APP = join(ROOT, 'apps', 'coordinator');

test('under nx (INIT_CWD is the app folder it runs in) paths mean the workspace root', () => {
  assert.equal(workspaceRoot(APP), ROOT);
  assert.equal(userDirectory({ INIT_CWD: APP }, APP), ROOT);
  assert.equal(resolveUserPath('runs/x', { INIT_CWD: APP }, APP), join(ROOT, 'runs', 'x'));
});

test('npm started elsewhere: INIT_CWD; plain node: the current folder; absolute and empty paths unchanged', () => {
  assert.equal(userDirectory({ INIT_CWD: '/tmp' }, APP), '/tmp');
  assert.equal(userDirectory({}, '/srv/data'), '/srv/data');
  assert.equal(resolveUserPath('a.pem', {}, '/srv'), '/srv/a.pem');
  assert.equal(resolveUserPath('/etc/a.pem', { INIT_CWD: APP }, APP), '/etc/a.pem');
  assert.equal(resolveUserPath('', { INIT_CWD: APP }, APP), '');
});
