// Link shaping with tc's token bucket filter (tbf). This kernel has tbf and htb but no netem, so
// links get a rate, never a delay. A host's link is shaped on both of its ends, each end shaping
// what it sends: the host's `eth0` (its uploads) and its bridge port (what the bridge delivers to
// it, i.e. its downloads). Full duplex, like a switched Ethernet port.

/** tbf settings of one shaped end. */
export interface TbfSettings {
  /** Rate in Mbit/s (10^6 bit/s, as tc's `mbit`). */
  rateMbit: number;
  /** Bucket size in bytes: how far a sender may run ahead of the rate in one go. */
  burstBytes: number;
  /** Longest a packet may wait in the queue, in milliseconds: the queue holds rate × latency + burst bytes. */
  latencyMs: number;
}

/**
 * The tbf settings of a `rateMbit` link.
 *
 * burst: at least 64 KiB, so a whole GSO/TSO segment (veth hands tbf up to 64 KiB at a time)
 * fits in the bucket; otherwise tbf has to cut it up, which costs CPU. Above that ~1 ms of
 * traffic (125 KB at 1 Gbit), as real switch buffers hold. A bigger bucket would let a sender
 * exceed the rate in bursts and flatter short transfers.
 *
 * latency: 50 ms of queue. TCP fills a queue until a packet is dropped; a short queue makes it
 * drop early and back off, and a single flow then averages below the rate. 50 ms at 1 Gbit is
 * 6.25 MB, more than the socket buffers Linux gives one flow by default, so the tbf queue
 * never drops a flow's packets and the link stays full.
 */
export function tbfSettings(rateMbit: number): TbfSettings {
  const perMsBytes = (rateMbit * 1e6) / 8 / 1000;
  return { rateMbit, burstBytes: Math.max(64 * 1024, Math.ceil(perMsBytes)), latencyMs: 50 };
}

/** `tc` arguments that put tbf on `dev` inside namespace `netns` as its root qdisc. */
export function tbfCommand(netns: string, dev: string, settings: TbfSettings): string[] {
  return [
    '-n',
    netns,
    'qdisc',
    'add',
    'dev',
    dev,
    'root',
    'tbf',
    'rate',
    `${settings.rateMbit}mbit`,
    'burst',
    String(settings.burstBytes),
    'latency',
    `${settings.latencyMs}ms`,
  ];
}
