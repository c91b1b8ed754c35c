// Screenshot of a running coordinator's dashboard, for the README (docs/dashboard.png):
//
//   node --conditions=source --import tsx test/src/dashboard_screenshot.ts <dashboard url> <out.png> [wait-s]
//
// Waits for the dashboard to answer (start it together with the coordinator), then for the run to
// finish (at most wait-s seconds, default 1800), and saves the page's top (header, charts, workers)
// at 1440 × 1400 CSS pixels.
import { launchChromium } from './dashboard_page.js';

const [url, out, waitArg] = process.argv.slice(2);
if (url === undefined || out === undefined) {
  process.stderr.write('usage: dashboard_screenshot.ts <dashboard url> <out.png> [wait-s]\n');
  process.exit(2);
}
const waitMs = Number(waitArg ?? 1800) * 1000;
const deadline = Date.now() + waitMs;

const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1400 } });
  for (;;) {
    try {
      await page.goto(url);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  await page.waitForFunction(() => ['finished', 'failed'].includes(document.getElementById('status')?.textContent ?? ''), null, {
    timeout: Math.max(1000, deadline - Date.now()),
  });
  // One render period after the last event.
  await page.waitForTimeout(1000);
  await page.screenshot({ path: out });
  process.stdout.write(`${out}\n`);
} finally {
  await browser.close();
}
