// Live socket fuzz: a real coordinator and two real worker processes train a tiny GoogLeNet on
// real CIFAR-10 while this process opens connection after connection to the coordinator's port
// (CONCURRENCY at a time) and sends hostile first frames (fuzz_first_frames.ts: garbage, mutated
// hellos, hellos with a wrong proof or version, other message types, frames over the 64 KiB
// limit, text frames, bursts) and, now and then, raw TCP bytes that are not WebSocket at all.
// Asserted:
//  - every WebSocket connection ends in a close from the server, after a `reject` whose code is
//    in the protocol README's table with the close code the table gives it, or (no `reject`)
//    with a close code the table uses; no connection is ever accepted (no `welcome`);
//  - every raw TCP connection is closed by the server;
//  - training is unharmed: coordinator and workers exit 0 and the test accuracy is logged;
//  - the coordinator's log shows the refusals.
// The fuzz runs from the moment the coordinator listens until its last epoch is done, capped at
// MAX_CONNECTIONS; the count and rate it reached are printed (they depend on the machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@gnet/data';
import { REPO_ROOT } from './cifar_dir.js';
import { coordinatorArgs, describe, finished, startGroup } from './distributed_group.js';
import { fuzzConnection, rawTcpConnection, type ConnectionOutcome } from './fuzz_connection.js';
import { FuzzPlanner, type FuzzPlan } from './fuzz_first_frames.js';

const SEED = 4;
const EPOCHS = 4;
/**
 * Connections in flight at once: below the coordinator's cap of 64 connections per address
 * waiting for their hello (DEFAULT_PREAUTH_LIMITS), so every fuzz connection reaches the
 * handshake; the caps themselves are tested in hostile_connections.test.ts.
 */
const CONCURRENCY = 48;
/** Stop here even if training goes on. */
const MAX_CONNECTIONS = 100_000;
/** At least this many must have run, or the test proved little. */
const MIN_CONNECTIONS = 2_000;
/** One in this many connections is raw TCP instead of WebSocket. */
const RAW_TCP_EVERY = 97;
/** Longest a single fuzz connection may stay open; the coordinator's hello deadline is 10 s. */
const CONNECTION_TIMEOUT_MS = 20_000;

/** The protocol README's error table, `code → close code`. */
function documentedCodes(): ReadonlyMap<string, number> {
  const text = readFileSync(join(REPO_ROOT, 'packages/protocol/README.md'), 'utf8');
  return new Map([...text.matchAll(/^\| `([A-Z][A-Z_]+)` \| (\d{4}) \| .+ \|$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** Why `outcome` breaks the rules, or null. */
function violation(outcome: ConnectionOutcome, documented: ReadonlyMap<string, number>): string | null {
  if (outcome.failure !== null) return outcome.failure;
  if (outcome.kind === 'raw TCP') return null;
  if (outcome.reject !== null) {
    const expected = documented.get(outcome.reject.code);
    if (expected === undefined) return `reject code ${outcome.reject.code} is not in the protocol README (${outcome.reject.message})`;
    if (outcome.closeCode !== expected)
      return `reject ${outcome.reject.code} must close with ${expected}, but closed with ${String(outcome.closeCode)}`;
    return null;
  }
  // Every text frame, valid UTF-8 or not, is refused with PROTO_MALFORMED (the servers skip ws's
  // own UTF-8 check, which would close with 1007 before our code sees the frame).
  if (!new Set(documented.values()).has(outcome.closeCode ?? -1)) return `closed with ${String(outcome.closeCode)} and no reject`;
  return null;
}

/** A server that sends a first message (`challenge`) makes half the plans wait for it. */
async function serverSpeaksFirst(url: string): Promise<boolean> {
  const { default: WebSocket } = await import('ws');
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve(false);
    }, 2000);
    ws.once('message', () => {
      clearTimeout(timer);
      ws.terminate();
      resolve(true);
    });
    ws.on('error', () => undefined);
  });
}

class Tally {
  readonly counts = new Map<string, number>();
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  toString(): string {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  }
}

test(
  'hostile first frames on the coordinator port while two workers train: all refused with documented codes, training unharmed',
  { timeout: 10 * 60_000 },
  async (t) => {
    const documented = documentedCodes();
    assert.ok(documented.size >= 13, `parsed only ${documented.size} codes from the protocol README`);
    const runDir = await mkdtemp(join(tmpdir(), 'fuzz-run-'));
    try {
      const group = await startGroup({
        workers: 2,
        timeoutMs: 8 * 60_000,
        coordinatorArgs: coordinatorArgs({
          epochs: EPOCHS,
          batchSize: 32,
          microBatch: 16,
          lr: 0.05,
          trainLimit: 256,
          evalLimit: 100,
          runDir,
          seed: SEED,
        }),
      });
      const port = Number(new URL(group.url).port);
      const speaksFirst = await serverSpeaksFirst(group.url);
      const planner = new FuzzPlanner(SEED, speaksFirst);

      let stop = false;
      const lastEpoch = group.coordinator.waitForLog((l) => l['msg'] === 'epoch done' && l['epoch'] === EPOCHS, 8 * 60_000);
      let trainedUntil: number | null = null;
      lastEpoch.then(
        () => ((stop = true), (trainedUntil = performance.now())),
        () => (stop = true),
      );
      let trainingSince: number | null = null;
      group.coordinator
        .waitForLog((l) => l['msg'] === 'group formed', 8 * 60_000)
        .then(
          () => (trainingSince = performance.now()),
          () => undefined,
        );

      const byKind = new Tally();
      const byCode = new Tally();
      const rejectsSeen = new Tally();
      const violations: string[] = [];
      let started = 0;
      let afterChallenge = 0;
      let duringTraining = 0;
      const t0 = performance.now();
      const countWaits = (plan: FuzzPlan): FuzzPlan => {
        if (plan.afterChallenge) afterChallenge++;
        return plan;
      };
      const worker = async (): Promise<void> => {
        while (!stop && started < MAX_CONNECTIONS) {
          const n = started++;
          if (trainingSince !== null) duringTraining++;
          const outcome =
            n % RAW_TCP_EVERY === RAW_TCP_EVERY - 1
              ? await rawTcpConnection(port, garbageFor(n), CONNECTION_TIMEOUT_MS)
              : await fuzzConnection(group.url, countWaits(planner.plan(n)), CONNECTION_TIMEOUT_MS);
          byKind.add(outcome.kind);
          byCode.add(
            outcome.reject !== null ? `${outcome.reject.code}/${String(outcome.closeCode)}` : `no reject/${String(outcome.closeCode)}`,
          );
          if (outcome.reject !== null) rejectsSeen.add(outcome.reject.code);
          const why = violation(outcome, documented);
          if (why !== null && violations.length < 20) violations.push(`connection ${n} (${outcome.kind}): ${why}`);
          else if (why !== null) violations.push('');
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const seconds = (performance.now() - t0) / 1000;
      const results = await finished(group);

      t.diagnostic(
        `${started} connections in ${seconds.toFixed(1)} s (${(started / seconds).toFixed(0)}/s, ${CONCURRENCY} in flight), ${duringTraining} after the group formed`,
      );
      if (trainingSince !== null && trainedUntil !== null)
        t.diagnostic(`training (group formed → last epoch done): ${((trainedUntil - trainingSince) / 1000).toFixed(1)} s`);
      t.diagnostic(
        `server sends a first message (challenge): ${speaksFirst}; ${afterChallenge} connections sent their frames after it, the rest at once`,
      );
      t.diagnostic(`by kind: ${byKind.toString()}`);
      t.diagnostic(`by reject code / close code: ${byCode.toString()}`);
      assert.deepEqual(
        violations.filter((v) => v !== ''),
        [],
        `${violations.length} connections broke the rules`,
      );
      assert.ok(started >= MIN_CONNECTIONS, `only ${started} connections before training ended`);
      assert.ok(duringTraining > 0, 'no fuzz connection while the group was training');

      assert.equal(results.coordinator.timedOut, false, 'the run exceeded its time budget');
      assert.equal(results.coordinator.code, 0, `coordinator failed:\n${describe(results)}`);
      results.workers.forEach((worker, i) => assert.equal(worker.code, 0, `worker ${i} failed:\n${describe(results)}`));
      const final = results.coordinator.logs.find(
        (l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('final test accuracy '),
      );
      assert.ok(final, 'the coordinator states the final test accuracy');
      t.diagnostic(String(final['msg']));

      // The coordinator logs each refusal once, rate-limited: the first of each code per interval as
      // 'hello refused', the rest counted in the next 'more connections refused' summary (which also
      // counts connections dropped before any hello, by the admission guard's own codes): the two
      // tallies agree.
      const logged = new Tally();
      const admissionCodes = new Set(['ADDRESS_LIMIT', 'TOTAL_LIMIT', 'FIRST_BYTE_TIMEOUT', 'PREAUTH_TIMEOUT']);
      for (const l of results.coordinator.logs) {
        if (l['msg'] === 'hello refused') logged.add(String(l['code']));
        if (l['msg'] !== 'more connections refused') continue;
        for (const [code, n] of Object.entries(l['refused'] as Record<string, number>)) if (!admissionCodes.has(code)) logged.add(code, n);
      }
      t.diagnostic(`coordinator log, 'hello refused' by code: ${logged.toString()}`);
      assert.deepEqual(
        new Map([...logged.counts].sort()),
        new Map([...rejectsSeen.counts].sort()),
        'refusals logged by the coordinator differ from the rejects the fuzz received',
      );
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  },
);

/** Bytes for a raw TCP connection: an HTTP request that is no upgrade, a broken one, or noise. */
function garbageFor(n: number): Uint8Array {
  const rng = new Rng(SEED * 7919 + n);
  const variants = [
    'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc',
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
  ];
  const pick = rng.int(variants.length + 1);
  if (pick < variants.length) return Buffer.from(variants[pick]!, 'latin1');
  return Uint8Array.from({ length: 1 + rng.int(512) }, () => rng.int(256));
}
