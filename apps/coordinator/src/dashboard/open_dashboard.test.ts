import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ConfigError, DEFAULT_DASHBOARD_PORT, parseCoordinatorConfig } from '../coordinator_config.js';
import { RunEvents } from '../run_events.js';
import { openDashboard } from './open_dashboard.js';
import { quietLogger } from '../testing/sample_run.js';

test('--dashboard-port (default 29501, 0 = any) and --no-dashboard', () => {
  const defaults = parseCoordinatorConfig([], {});
  assert.deepEqual([defaults.dashboard, defaults.dashboardPort], [true, DEFAULT_DASHBOARD_PORT]);
  assert.equal(DEFAULT_DASHBOARD_PORT, 29501);
  assert.equal(parseCoordinatorConfig(['--dashboard-port', '0'], {}).dashboardPort, 0);
  assert.equal(parseCoordinatorConfig(['--no-dashboard'], {}).dashboard, false);
  assert.throws(
    () => parseCoordinatorConfig(['--dashboard-port', '70000'], {}),
    (err: unknown) =>
      err instanceof ConfigError && err.code === 'CONFIG_INVALID' && /^--dashboard-port: .*65535.*, but got 70000$/.test(err.message),
  );
});

test('logs the URL once as `dashboard`; off with --no-dashboard; a port in use warns and the run goes on without it', async () => {
  const events = new RunEvents();
  const { log, lines } = quietLogger();
  const dashboard = await openDashboard({ dashboard: true, dashboardPort: 0, host: '127.0.0.1' }, events, log);
  assert.ok(dashboard !== null);
  const listening = lines.filter((l) => l['msg'] === 'dashboard listening');
  assert.equal(listening.length, 1);
  assert.equal(listening[0]!['dashboard'], dashboard.url);
  assert.equal((await fetch(listening[0]!['dashboard'] as string)).status, 200);
  await dashboard.close();

  assert.equal(await openDashboard({ dashboard: false, dashboardPort: 0, host: '127.0.0.1' }, events, log), null);

  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as AddressInfo).port;
  try {
    assert.equal(await openDashboard({ dashboard: true, dashboardPort: port, host: '127.0.0.1' }, events, log), null);
    const warning = lines.find((l) => l['msg'] === 'dashboard not started');
    assert.equal(warning?.['code'], 'EADDRINUSE');
    assert.equal(warning?.['port'], port);
  } finally {
    taken.close();
  }
});
