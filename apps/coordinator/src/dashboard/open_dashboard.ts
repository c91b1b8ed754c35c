// Starting the dashboard for main.ts: as Ray does with its dashboard, a port already in use does
// not stop the training; the run goes on without a dashboard and says so once.
import type { Logger } from 'pino';
import type { CoordinatorConfig } from '../coordinator_config.js';
import type { RunEvents } from '../run_events.js';
import { DashboardServer } from './dashboard_server.js';

/**
 * Starts the dashboard on `--host`:`--dashboard-port` unless `--no-dashboard`, and logs its URL
 * once (`dashboard` in 'dashboard listening'). Null when off or when the port cannot be bound.
 */
export async function openDashboard(
  cfg: Pick<CoordinatorConfig, 'dashboard' | 'dashboardPort' | 'host'>,
  events: RunEvents,
  log: Logger,
): Promise<DashboardServer | null> {
  if (!cfg.dashboard) return null;
  try {
    const dashboard = await DashboardServer.listen({ host: cfg.host, port: cfg.dashboardPort, events, log });
    log.info({ dashboard: dashboard.url, metrics: `${dashboard.url}metrics` }, 'dashboard listening');
    return dashboard;
  } catch (err) {
    const code = (err as { code?: string }).code;
    log.warn(
      {
        err,
        code,
        host: cfg.host,
        port: cfg.dashboardPort,
        hint: 'training goes on without it; pick another --dashboard-port, or 0 for any free one',
      },
      'dashboard not started',
    );
    return null;
  }
}
