// The coordinator's HTTP side for people and monitoring (node:http, no framework: six read-only
// routes). What a watcher of the run sees, from the live feed (run_events.ts):
//
//   GET /             the dashboard page (static/index.html, app.js, style.css)
//   GET /vendor/...   uPlot, the charting library, served from node_modules (machines may have no internet)
//   GET /events       Server-Sent Events: the run so far, then every event as it happens (sse_client.ts)
//   GET /api/state    the latest figures as JSON (run_state.ts)
//   GET /metrics      Prometheus text format (run_metrics.ts)
//
// Everything else is 404, every other method 405. Every route is bounded: static files are read
// once at start-up, SSE subscribers are capped in number and in buffered bytes, the server caps
// connections and the time to receive a request. Connections that have not yet sent a complete
// request pass a PreauthGuard (per address and in total, first byte, first request), so a
// slowloris flood from one address cannot make /metrics unreachable for the others (issue 10).
// It shows no secret (the config comes without the token) and changes nothing, but it does show
// the run's settings to whoever reaches --host.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { PreauthGuard, type PreauthLimits } from '@gnet/collective';
import type { RunEvents } from '../run_events.js';
import { RunMetrics } from './run_metrics.js';
import { RunStateView } from './run_state.js';
import { DEFAULT_SSE_LIMITS, SseClient, type SseCloseReason, type SseLimits } from './sse_client.js';

/** Options of {@link DashboardServer.listen}. */
export interface DashboardOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  events: RunEvents;
  log: Logger;
  /** Bounds of each `/events` subscriber. */
  sse?: Partial<SseLimits>;
  /** Most `/events` subscribers at once; more get 503 (each holds a socket and a queue). */
  maxSubscribers?: number;
  /** Caps and deadlines for connections that have not sent a complete request yet; default {@link DASHBOARD_PREAUTH_LIMITS}. */
  preauth?: Partial<PreauthLimits>;
}

/** Open sockets of every kind; Node resets connections beyond it at once (`maxConnections`). */
const MAX_CONNECTIONS = 128;
const DEFAULT_MAX_SUBSCRIBERS = 32;
/** Time to receive a whole request, in milliseconds: slowloris guard. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Time to receive a request's headers, in milliseconds: a browser or Prometheus sends them in one write. */
const HEADERS_TIMEOUT_MS = 5_000;
/** How often Node enforces the two timeouts above, in milliseconds (its default, 30 s, would let a slow request live 40 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * Before a connection's first complete request: a browser opens about 6 connections per host and
 * Prometheus one, so 16 per address is generous, and 64 in all leaves half of MAX_CONNECTIONS to
 * connections that did ask something. First byte within 5 s, first request within 10 s (a
 * browser's speculative preconnect that never asks is closed too; it simply opens another).
 */
export const DASHBOARD_PREAUTH_LIMITS: Readonly<PreauthLimits> = Object.freeze({
  maxPerAddress: 16,
  maxTotal: 64,
  firstByteTimeoutMs: 5_000,
  handshakeTimeoutMs: REQUEST_TIMEOUT_MS,
});

interface StaticFile {
  body: Buffer;
  type: string;
}

/** Files of the page, read once: route → (path, content type). */
function staticRoutes(): Record<string, { path: string; type: string }> {
  const req = createRequire(import.meta.url);
  const here = (name: string): string => fileURLToPath(new URL(`./static/${name}`, import.meta.url));
  return {
    '/': { path: here('index.html'), type: 'text/html; charset=utf-8' },
    '/app.js': { path: here('app.js'), type: 'text/javascript; charset=utf-8' },
    '/style.css': { path: here('style.css'), type: 'text/css; charset=utf-8' },
    '/vendor/uPlot.iife.min.js': { path: req.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    '/vendor/uPlot.min.css': { path: req.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  };
}

/** Headers of every answer: nothing cached, nothing loaded from elsewhere. */
const COMMON_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
};

/** The dashboard and /metrics server of one run. */
export class DashboardServer {
  readonly metrics: RunMetrics;
  private readonly state = new RunStateView();
  private readonly subscribers = new Set<SseClient>();
  private readonly unsubscribe: () => void;
  private readonly maxSubscribers: number;
  private readonly sseLimits: SseLimits;
  private readonly subscriberGauge: Gauge;
  private readonly droppedCounter: Counter<'reason'>;
  private dropped = 0;

  private constructor(
    private readonly server: Server,
    private readonly guard: PreauthGuard,
    readonly url: string,
    private readonly files: ReadonlyMap<string, StaticFile>,
    private readonly options: DashboardOptions,
  ) {
    this.maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
    this.sseLimits = { ...DEFAULT_SSE_LIMITS, ...options.sse };
    this.metrics = new RunMetrics(options.events);
    const registers = [this.metrics.registry];
    this.subscriberGauge = new Gauge({ name: 'gnet_dashboard_subscribers', help: 'Dashboard pages connected to /events.', registers });
    this.droppedCounter = new Counter({
      name: 'gnet_dashboard_subscribers_dropped_total',
      help: 'Dashboard subscribers dropped because they stopped reading.',
      labelNames: ['reason'],
      registers,
    });
    for (const event of options.events.history) this.state.apply(event);
    this.unsubscribe = options.events.subscribe((event) => {
      this.state.apply(event);
      for (const client of this.subscribers) client.push(event);
    });
    server.on('request', (req, res) => {
      // A complete request: the connection is no stranger any more (keep-alive and SSE ones stay
      // bounded by MAX_CONNECTIONS, the subscriber cap and Node's timeouts).
      guard.release(req.socket);
      this.route(req, res);
    });
  }

  /** Binds `host:port`; rejects with the listen error (e.g. EADDRINUSE). */
  static async listen(options: DashboardOptions): Promise<DashboardServer> {
    const files = new Map<string, StaticFile>();
    for (const [route, { path, type }] of Object.entries(staticRoutes())) files.set(route, { body: await readFile(path), type });
    const server = createServer({
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    });
    server.maxConnections = MAX_CONNECTIONS;
    const guard = new PreauthGuard({ limits: { ...DASHBOARD_PREAUTH_LIMITS, ...options.preauth }, log: options.log });
    guard.attach(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    return new DashboardServer(server, guard, `http://${host}:${port}/`, files, options);
  }

  /** `/events` subscribers connected now. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Subscribers dropped so far for not reading (`slow` or `stalled`). */
  get droppedCount(): number {
    return this.dropped;
  }

  /**
   * Stops: subscribers get what is queued (so a page sees the run's last event) for up to
   * `graceMs`, then every connection is closed.
   */
  async close(graceMs = 1000): Promise<void> {
    this.unsubscribe();
    this.metrics.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.guard.close();
    for (const client of this.subscribers) client.end();
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value);
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      text(res, 405, `${req.method ?? '?'} is not allowed: the dashboard is read-only (GET only)\n`);
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const file = this.files.get(path === '/index.html' ? '/' : path);
    if (file !== undefined) {
      res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length });
      res.end(file.body);
      return;
    }
    switch (path) {
      case '/events':
        this.subscribe(res);
        return;
      case '/api/state': {
        const body = JSON.stringify(this.state.snapshot);
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      case '/metrics':
        this.metrics.text().then(
          (body) => {
            res.writeHead(200, { 'Content-Type': this.metrics.contentType, 'Content-Length': Buffer.byteLength(body) });
            res.end(body);
          },
          (err: unknown) => {
            this.options.log.warn({ err }, 'metrics collection failed');
            text(res, 500, 'metrics collection failed\n');
          },
        );
        return;
      default:
        text(res, 404, `${path.slice(0, 200)} not found: try /, /events, /api/state or /metrics\n`);
    }
  }

  private subscribe(res: ServerResponse): void {
    if (this.subscribers.size >= this.maxSubscribers) {
      res.setHeader('Retry-After', '10');
      text(res, 503, `too many dashboard subscribers (at most ${this.maxSubscribers})\n`);
      return;
    }
    let client: SseClient | null = null;
    const onClose = (reason: SseCloseReason): void => {
      if (client !== null) this.subscribers.delete(client);
      this.subscriberGauge.set(this.subscribers.size);
      if (reason === 'slow' || reason === 'stalled') {
        this.dropped += 1;
        this.droppedCounter.inc({ reason });
        this.options.log.warn({ reason, subscribers: this.subscribers.size }, 'dashboard subscriber dropped');
      }
    };
    // A copy of the history: the feed thins its own as it grows, which would shift the replay.
    client = new SseClient(res, [...this.options.events.history], this.sseLimits, onClose);
    if (client.open) this.subscribers.add(client);
    this.subscriberGauge.set(this.subscribers.size);
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
