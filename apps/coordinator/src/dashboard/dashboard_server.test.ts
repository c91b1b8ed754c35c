// The dashboard server over real HTTP on 127.0.0.1 (port 0): routes, the SSE replay and stream,
// /metrics, and the bounds (a client that stops reading is dropped, subscribers are capped, a
// slowloris flood from one address is capped and timed out while /metrics still answers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { RunEvents, type RunEvent } from '../run_events.js';
import { DashboardServer } from './dashboard_server.js';
import { quietLogger, readSse, sampleRun, sampleRunEnd } from '../testing/sample_run.js';

async function start(events: RunEvents, extra: Partial<Parameters<typeof DashboardServer.listen>[0]> = {}) {
  const { log, lines } = quietLogger();
  const server = await DashboardServer.listen({ host: '127.0.0.1', port: 0, events, log, ...extra });
  return { server, lines };
}

/** Waits until `condition` holds, polling; fails naming `what` after `timeoutMs`. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A big event: membership with a long reason (64 KiB on the wire). */
const bigEvent = (i: number): RunEvent => ({
  kind: 'membership',
  atMs: i,
  event: 'joined',
  workerId: `big${i}`,
  rank: null,
  reason: 'x'.repeat(64 * 1024),
});

/** A raw HTTP client that asks for /events and then never reads. */
function nonReadingSubscriber(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      socket.pause();
      socket.write(`GET /events HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

test('serves the page and uPlot from node_modules; /api/state; unknown paths 404; only GET', async () => {
  const events = new RunEvents();
  for (const e of sampleRun()) events.emit(e);
  const { server } = await start(events);
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    const html = await page.text();
    for (const asset of ['/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css', '/app.js', '/style.css']) {
      assert.ok(html.includes(asset), `the page loads ${asset}`);
      const res = await fetch(new URL(asset, server.url));
      assert.equal(res.status, 200, asset);
      assert.ok((await res.text()).length > 100, `${asset} has content`);
    }
    const uplot = await (await fetch(new URL('/vendor/uPlot.iife.min.js', server.url))).text();
    assert.match(uplot, /uPlot/);
    assert.equal((await fetch(new URL('/index.html', server.url))).status, 200);

    const state = await fetch(new URL('/api/state?x=1', server.url));
    assert.match(state.headers.get('content-type')!, /^application\/json/);
    const body = (await state.json()) as { status: string; globalStep: number; workers: Array<{ workerId: string; active: boolean }> };
    assert.deepEqual([body.status, body.globalStep], ['training', 5]);
    assert.deepEqual(
      body.workers.map((worker) => [worker.workerId, worker.active]),
      [
        ['w0', true],
        ['w1', false],
      ],
    );

    const missing = await fetch(new URL('/nope/../../etc/passwd', server.url));
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /not found: try \/, \/events, \/api\/state or \/metrics/);
    const post = await fetch(new URL('/api/state', server.url), { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    assert.match(await post.text(), /POST is not allowed: the dashboard is read-only/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
  } finally {
    await server.close();
  }
});

test('/events replays the run so far after a reset, then streams new events; a reconnect replays again', async () => {
  const events = new RunEvents();
  const run = sampleRun();
  for (const e of run) events.emit(e);
  const { server } = await start(events);
  try {
    const sse = await readSse(new URL('/events', server.url).href);
    assert.match(sse.response.headers['content-type']!, /^text\/event-stream/);
    const replayed = await sse.waitFor(1 + run.length, 10_000);
    assert.equal(replayed[0]!.event, 'reset');
    const kinds = replayed.slice(1).map((m) => (JSON.parse(m.data) as RunEvent).kind);
    assert.deepEqual(
      kinds,
      run.map((e) => e.kind),
    );
    // NaN has no JSON spelling: the skipped step's loss arrives as null.
    assert.equal((JSON.parse(replayed[6]!.data) as { loss: unknown }).loss, null);

    const end = sampleRunEnd();
    for (const e of end) events.emit(e);
    const all = await sse.waitFor(1 + run.length + end.length, 10_000);
    assert.deepEqual(
      all.slice(1 + run.length).map((m) => (JSON.parse(m.data) as RunEvent).kind),
      end.map((e) => e.kind),
    );
    assert.equal(server.subscriberCount, 1);

    const again = await readSse(new URL('/events', server.url).href);
    await again.waitFor(1 + run.length + end.length, 10_000);
    assert.equal(server.subscriberCount, 2);
    sse.close();
    again.close();
    await eventually(() => server.subscriberCount === 0, 'both subscribers gone');
    assert.equal(server.droppedCount, 0);
  } finally {
    await server.close();
  }
});

test('/metrics answers the Prometheus text format with the run figures and the dashboard own', async () => {
  const events = new RunEvents();
  const { server } = await start(events);
  try {
    for (const e of [...sampleRun(), ...sampleRunEnd()]) events.emit(e);
    const res = await fetch(new URL('/metrics', server.url));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const line of [
      'gnet_steps_total 8',
      'gnet_skipped_steps_total 1',
      'gnet_accuracy{split="test"} 0.45',
      'gnet_workers_lost_total 1',
      'gnet_generation 1',
      'gnet_dashboard_subscribers 0',
    ]) {
      assert.ok(text.split('\n').includes(line), `/metrics has the line ${line}`);
    }
    assert.match(text, /^# TYPE gnet_worker_reduce_seconds histogram$/m);
    assert.match(text, /^gnet_worker_compute_seconds_count\{worker="w1"\} 5$/m);
  } finally {
    await server.close();
  }
});

test('a subscriber that stops reading is dropped once its queue overflows; the others keep streaming', async () => {
  const events = new RunEvents();
  const { server, lines } = await start(events, { sse: { maxQueuedBytes: 256 * 1024, drainTimeoutMs: 60_000 } });
  try {
    const healthy = await readSse(new URL('/events', server.url).href);
    const slow = await nonReadingSubscriber(server.url);
    await eventually(() => server.subscriberCount === 2, 'both subscribed');
    // The socket buffers (ours and the kernel's, a few MiB on loopback) fill first, then the queue.
    let sent = 0;
    while (server.droppedCount === 0 && sent < 2000) {
      events.emit(bigEvent(sent++));
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(server.droppedCount, 1, `the slow subscriber was dropped (after ${sent} events of 64 KiB)`);
    assert.equal(server.subscriberCount, 1);
    const dropped = lines.find((l) => l['msg'] === 'dashboard subscriber dropped');
    assert.equal(dropped?.['reason'], 'slow');
    // The one that reads got everything.
    await healthy.waitFor(1 + sent, 30_000);
    assert.match(
      await (await fetch(new URL('/metrics', server.url))).text(),
      /^gnet_dashboard_subscribers_dropped_total\{reason="slow"\} 1$/m,
    );
    healthy.close();
    slow.destroy();
  } finally {
    await server.close();
  }
});

test('a subscriber whose socket never drains during the replay is dropped after drainTimeoutMs', async () => {
  const events = new RunEvents();
  for (let i = 0; i < 400; i += 1) events.emit(bigEvent(i));
  const { server, lines } = await start(events, { sse: { drainTimeoutMs: 300 } });
  try {
    const slow = await nonReadingSubscriber(server.url);
    await eventually(() => server.droppedCount === 1, 'the stalled subscriber dropped');
    assert.equal(lines.find((l) => l['msg'] === 'dashboard subscriber dropped')?.['reason'], 'stalled');
    assert.equal(server.subscriberCount, 0);
    slow.destroy();
  } finally {
    await server.close();
  }
});

test('subscribers are capped (503 beyond maxSubscribers); close() flushes the last event and ends the streams', async () => {
  const events = new RunEvents();
  const { server } = await start(events, { maxSubscribers: 1 });
  const first = await readSse(new URL('/events', server.url).href);
  await first.waitFor(1, 5000);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(new URL('/events', server.url), (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 503);
  const [finished] = sampleRunEnd().slice(-1);
  events.emit(finished!);
  await server.close();
  await first.ended;
  assert.equal((JSON.parse(first.messages.at(-1)!.data) as RunEvent).kind, 'finished');
  // After close the feed has no listener from the server left.
  assert.equal((events as unknown as { listeners: Set<unknown> }).listeners.size, 0);
});

/**
 * A connection from `localAddress` that sends a request line and then a header line every second, never ending the headers; resolves with
 * its lifetime in ms once the server closes it.
 */
function slowloris(url: string, localAddress: string): Promise<number> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress }, () =>
      socket.write(`GET /metrics HTTP/1.1\r\nHost: ${hostname}\r\n`),
    );
    const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 1000);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearInterval(drip);
      resolve(performance.now() - started);
    });
  });
}

test('150 slowloris connections from one address: 16 held until the headers timeout, the rest refused at once, /metrics answers meanwhile', async () => {
  const events = new RunEvents();
  for (const e of sampleRun()) events.emit(e);
  const { server, lines } = await start(events);
  try {
    // 127.0.0.2 is another host to the server; the watcher asks from 127.0.0.1.
    const flood = Array.from({ length: 150 }, () => slowloris(server.url, '127.0.0.2'));
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 3; i += 1) {
      const res = await fetch(new URL('/metrics', server.url), { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /gnet_/);
    }
    const lived = await Promise.all(flood);
    const atOnce = lived.filter((ms) => ms < 1000).length;
    assert.ok(atOnce >= 134, `only ${atOnce} of 150 refused at once`);
    // Headers within 5 s (enforced each second), the first request within 10 s at the latest.
    assert.ok(Math.max(...lived) < 15_000, `a slowloris connection lived ${Math.round(Math.max(...lived))} ms`);
    const refused = lines.filter((l) => l['msg'] === 'connection refused before authentication');
    assert.deepEqual(
      refused.map((l) => [l['code'], l['remote']]),
      [['ADDRESS_LIMIT', '127.0.0.2']],
    );
  } finally {
    await server.close();
  }
});
