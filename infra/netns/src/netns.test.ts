// Real checks of createHostNetwork (root and iproute2 needed; otherwise skipped with the reason,
// or failed under GNET_INFRA_REQUIRED=1): hosts reach each other over TCP on their own addresses,
// the machine's own network namespace gains nothing, tbf shapes both directions of a link to its
// rate, and destroy() (or process exit, or a signal) leaves no namespace and no process behind.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHostNetwork, netnsUnavailableReason, NetnsError, requireOrSkip, type HostNetwork } from './index.js';
import { runChecked } from './command.js';
import { isAlive as alive, listNetns } from './namespaces.js';
import { receiveProgram, sendProgram, type TransferReport } from './testing/transfer_programs.js';

async function usable(t: TestContext): Promise<boolean> {
  return requireOrSkip(t, await netnsUnavailableReason());
}

/** The root namespace's interfaces and addresses, without counters or timers that change by themselves. */
async function rootNetwork(): Promise<string> {
  const links = (await runChecked('ip', ['-o', 'link', 'show'], 10_000)).split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' '));
  const addrs = (await runChecked('ip', ['-o', 'addr', 'show'], 10_000)).split('\n').map((l) => l.split(/\s+/).slice(0, 4).join(' '));
  return [...links, ...addrs].filter((l) => l.trim() !== '').join('\n');
}

/** Sends `bytes` from host `from` to host `to` over one TCP connection; the receiver's figures. */
async function transfer(net: HostNetwork, from: string, to: string, bytes: number, port: number): Promise<TransferReport> {
  const receiver = net.exec(to, process.execPath, ['-e', receiveProgram, net.host(to).address, String(port)], { timeoutMs: 60_000 });
  // The sender retries its dial until the receiver listens (both start together).
  const sent = await net.exec(from, process.execPath, ['-e', sendProgram, net.host(to).address, String(port), String(bytes)], {
    timeoutMs: 60_000,
  });
  assert.equal(sent.code, 0, `sender: ${sent.stderr}`);
  const received = await receiver;
  assert.equal(received.code, 0, `receiver: ${received.stderr}`);
  return JSON.parse(received.stdout) as TransferReport;
}

test('two hosts talk over TCP on their own addresses, and the root namespace gains nothing', { timeout: 120_000 }, async (t) => {
  if (!(await usable(t))) return;
  const before = await rootNetwork();
  const net = await createHostNetwork({ hosts: [{ name: 'a' }, { name: 'b', rateMbit: 1000 }] });
  try {
    assert.equal(await rootNetwork(), before, 'the root namespace changed while the network exists');
    const [a, b] = [net.host('a'), net.host('b')];
    assert.notEqual(a.address, b.address);
    assert.match(a.netns, new RegExp(`^gnet${process.pid}-`));
    for (const h of net.hosts) {
      const addr = await net.exec(h.name, 'ip', ['-o', '-4', 'addr', 'show'], { timeoutMs: 10_000 });
      assert.match(addr.stdout, new RegExp(`\\blo\\s+inet 127\\.0\\.0\\.1/8`), `lo is not up in ${h.name}`);
      assert.match(addr.stdout, new RegExp(`\\beth0\\s+inet ${h.address.replaceAll('.', '\\.')}/24`));
      // No route out: a host reaches its subnet and nothing else.
      const routes = await net.exec(h.name, 'ip', ['-4', 'route', 'show'], { timeoutMs: 10_000 });
      assert.doesNotMatch(routes.stdout, /default/);
    }
    // Both directions; the receiver reports the address the connection came from.
    const ab = await transfer(net, 'a', 'b', 1 << 20, 7001);
    assert.equal(ab.remote, a.address);
    assert.equal(ab.bytes, 1 << 20);
    const ba = await transfer(net, 'b', 'a', 1 << 20, 7002);
    assert.equal(ba.remote, b.address);
    const qdiscs = await net.exec('b', 'tc', ['qdisc', 'show', 'dev', 'eth0'], { timeoutMs: 10_000 });
    assert.match(qdiscs.stdout, /tbf .*rate 1Gbit/);
  } finally {
    await net.destroy();
  }
  assert.equal(await rootNetwork(), before, 'the root namespace changed after destroy()');
});

test(
  'tbf shapes both directions of a host link to its rate: 100 Mbit measures ~0.09 Gbit/s, 1 Gbit ~0.94',
  { timeout: 180_000 },
  async (t) => {
    if (!(await usable(t))) return;
    const net = await createHostNetwork({ hosts: [{ name: 'fast' }, { name: 'slow', rateMbit: 100 }, { name: 'gig', rateMbit: 1000 }] });
    try {
      // 8 MB at 100 Mbit/s is ~0.7 s; 64 MB at 1 Gbit/s ~0.55 s: long enough that tbf's initial
      // burst (64 KiB / 125 KB) does not count, short enough for a test.
      const upload = await transfer(net, 'slow', 'fast', 8e6, 7101);
      const download = await transfer(net, 'fast', 'slow', 8e6, 7102);
      const gig = await transfer(net, 'fast', 'gig', 64e6, 7103);
      t.diagnostic(
        `100 Mbit upload ${upload.gbitPerSecond.toFixed(4)} Gbit/s, download ${download.gbitPerSecond.toFixed(4)}; 1 Gbit download ${gig.gbitPerSecond.toFixed(3)}`,
      );
      // Generous bands: the machine is shared and noisy, but unshaped veth runs at 3-5 Gbit/s, so
      // any value under the upper bound proves the shaping.
      for (const [what, r] of [
        ['upload', upload],
        ['download', download],
      ] as const) {
        assert.ok(r.gbitPerSecond > 0.05 && r.gbitPerSecond < 0.11, `100 Mbit ${what} measured ${r.gbitPerSecond} Gbit/s`);
      }
      assert.ok(gig.gbitPerSecond > 0.5 && gig.gbitPerSecond < 1.05, `1 Gbit link measured ${gig.gbitPerSecond} Gbit/s`);
    } finally {
      await net.destroy();
    }
  },
);

test(
  'destroy() kills every process it spawned, daemons and TERM-ignorers too, and deletes every namespace',
  { timeout: 120_000 },
  async (t) => {
    if (!(await usable(t))) return;
    const net = await createHostNetwork({ hosts: [{ name: 'a' }, { name: 'b' }], killGraceMs: 500 });
    const namespaces = [net.bridgeNetns, ...net.hosts.map((h) => h.netns)];
    const plain = net.spawn('a', 'sleep', ['300'], { stdio: 'ignore' });
    // Ignores SIGTERM: needs the SIGKILL after the grace period.
    const stubborn = net.spawn('b', 'sh', ['-c', 'trap "" TERM; sleep 301 & wait'], { stdio: 'ignore' });
    // A daemon: setsid leaves our process group, so only the namespace sweep finds it.
    const daemon = await net.exec('a', 'sh', ['-c', 'setsid sleep 302 >/dev/null 2>&1 & echo $!'], { timeoutMs: 10_000 });
    const daemonPid = Number(daemon.stdout.trim());
    const pids = [plain.pid!, stubborn.pid!, daemonPid];
    assert.ok(pids.every(alive));
    const started = Date.now();
    await net.destroy();
    t.diagnostic(`destroy() took ${Date.now() - started} ms`);
    await net.destroy(); // idempotent
    const left = await listNetns(10_000);
    for (const netns of namespaces) assert.ok(!left.includes(netns), `${netns} still exists`);
    for (const pid of pids) assert.ok(!alive(pid), `process ${pid} survived destroy()`);
    assert.throws(
      () => net.spawn('a', 'true', []),
      (err: unknown) => err instanceof NetnsError && err.code === 'NETNS_DESTROYED',
    );
  },
);

test(
  'exec() is bounded: a command past its timeoutMs is killed and rejects with NETNS_TIMEOUT; a daemon holding its pipes does not hang it',
  { timeout: 60_000 },
  async (t) => {
    if (!(await usable(t))) return;
    const net = await createHostNetwork({ hosts: [{ name: 'a' }] });
    try {
      const started = Date.now();
      await assert.rejects(
        net.exec('a', 'sleep', ['30'], { timeoutMs: 300 }),
        (err: unknown) => err instanceof NetnsError && err.code === 'NETNS_TIMEOUT' && /sleep 30/.test(err.message),
      );
      assert.ok(Date.now() - started < 5_000);
      // A daemon holding the command's stdout open does not keep exec() waiting once the command exited.
      const daemonStarted = Date.now();
      const withDaemon = await net.exec('a', 'sh', ['-c', 'setsid sleep 300 & echo started'], { timeoutMs: 20_000 });
      assert.deepEqual([withDaemon.code, withDaemon.stdout.trim()], [0, 'started']);
      assert.ok(Date.now() - daemonStarted < 5_000);
      assert.throws(
        () => net.host('nope'),
        (err: unknown) => err instanceof NetnsError && err.code === 'NETNS_UNKNOWN_HOST' && /hosts: a/.test(err.message),
      );
    } finally {
      await net.destroy();
    }
  },
);

test('two networks of one process get different namespaces and subnets', { timeout: 60_000 }, async (t) => {
  if (!(await usable(t))) return;
  const [n1, n2] = await Promise.all([createHostNetwork({ hosts: [{ name: 'a' }] }), createHostNetwork({ hosts: [{ name: 'a' }] })]);
  try {
    assert.notEqual(n1.host('a').netns, n2.host('a').netns);
    assert.notEqual(n1.subnet, n2.subnet);
  } finally {
    await Promise.all([n1.destroy(), n2.destroy()]);
  }
});

const INDEX = fileURLToPath(new URL('./index.ts', import.meta.url));

/**
 * Runs a node process that builds a network, spawns `sleep`, prints its names and pid, then ends as `how` says; returns what it printed.
 */
async function ownerThatDies(how: 'exit' | 'SIGTERM' | 'SIGKILL'): Promise<{ namespaces: string[]; sleepPid: number }> {
  const script = `
    const { createHostNetwork } = await import(${JSON.stringify(INDEX)});
    const net = await createHostNetwork({ hosts: [{ name: 'a' }] });
    const sleep = net.spawn('a', 'sleep', ['300'], { stdio: 'ignore' });
    console.log(JSON.stringify({ namespaces: [net.bridgeNetns, net.host('a').netns], sleepPid: sleep.pid }));
    if (${JSON.stringify(how)} === 'exit') process.exit(3);
    setInterval(() => undefined, 1000);`;
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('\n') && how !== 'exit') child.kill(how);
  });
  await new Promise((resolve) => child.once('close', resolve));
  clearTimeout(killer);
  return JSON.parse(out.split('\n')[0]!) as { namespaces: string[]; sleepPid: number };
}

test(
  'a process that exits or is signalled without destroy() still cleans up; what a SIGKILLed one left is removed by the next network',
  { timeout: 180_000 },
  async (t) => {
    if (!(await usable(t))) return;
    for (const how of ['exit', 'SIGTERM'] as const) {
      const { namespaces, sleepPid } = await ownerThatDies(how);
      const left = await listNetns(10_000);
      assert.deepEqual(
        namespaces.filter((n) => left.includes(n)),
        [],
        `after ${how}`,
      );
      assert.ok(!alive(sleepPid), `sleep survived its owner's ${how}`);
    }
    const killed = await ownerThatDies('SIGKILL');
    assert.ok(killed.namespaces.every((n) => n !== ''));
    // Nothing can run on SIGKILL: the namespaces stay until the next createHostNetwork sweeps them.
    const net = await createHostNetwork({ hosts: [{ name: 'a' }] });
    await net.destroy();
    const left = await listNetns(10_000);
    assert.deepEqual(
      killed.namespaces.filter((n) => left.includes(n)),
      [],
    );
    assert.ok(!alive(killed.sleepPid), "the SIGKILLed owner's sleep survived the sweep");
  },
);

test('bad host specs are refused before anything is made', async () => {
  const bad = (hosts: Parameters<typeof createHostNetwork>[0]['hosts'], subnet?: string): Promise<void> =>
    assert.rejects(
      createHostNetwork({ hosts, ...(subnet === undefined ? {} : { subnet }) }),
      (err: unknown) => err instanceof NetnsError && err.code === 'NETNS_BAD_SPEC',
    );
  await bad([]);
  await bad([{ name: 'a' }, { name: 'a' }]);
  await bad([{ name: 'a/b' }]);
  await bad([{ name: 'a', rateMbit: 0 }]);
  await bad([{ name: 'a', rateMbit: Number.NaN }]);
  await bad([{ name: 'a' }], '10.1.2.0/16');
  await bad([{ name: 'a' }], 'not-a-subnet');
});
