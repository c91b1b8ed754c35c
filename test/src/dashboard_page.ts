// Drives the coordinator's dashboard in a real browser: Debian's chromium (CHROMIUM_PATH, default
// /usr/bin/chromium) through playwright-core, which downloads no browser of its own. Used by
// dashboard_browser.test.ts and dashboard_screenshot.ts.
// The page-side callbacks run in the browser: DOM types for them.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';

/** Launches headless chromium; throws (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `chromium not found at ${CHROMIUM_PATH}: the dashboard browser test needs it (Debian: apt-get install chromium; elsewhere set CHROMIUM_PATH to a Chromium or Chrome executable)`,
    );
  }
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
}

/** What the page shows, read from its DOM. */
export interface DashboardView {
  /** Step events the page has folded (`body[data-steps]`). */
  steps: number;
  status: string;
  /** Chart name → data points drawn (`.chart[data-points]`). */
  points: Record<string, number>;
  /** uPlot canvases on the page. */
  canvases: number;
  /** Rows of the workers table: worker id → [backend, state]. */
  workers: Record<string, [string, string]>;
  timelineKinds: string[];
  configKeys: string[];
}

export function readDashboard(page: Page): Promise<DashboardView> {
  return page.evaluate(() => {
    const points: Record<string, number> = {};
    for (const el of document.querySelectorAll<HTMLElement>('.chart')) points[el.dataset['chart']!] = Number(el.dataset['points']);
    const workers: Record<string, [string, string]> = {};
    for (const row of document.querySelectorAll<HTMLTableRowElement>('#workers tbody tr')) {
      const cells = [...row.cells].map((c) => c.textContent ?? '');
      workers[row.dataset['worker']!] = [cells[2]!, cells.at(-1)!];
    }
    return {
      steps: Number(document.body.dataset['steps']),
      status: document.getElementById('status')!.textContent ?? '',
      points,
      canvases: document.querySelectorAll('.chart canvas').length,
      workers,
      timelineKinds: [...document.querySelectorAll('#timeline .kind')].map((k) => k.textContent ?? ''),
      configKeys: [...document.querySelectorAll('#config dt')].map((k) => k.textContent ?? ''),
    };
  });
}
