// Test-only entry, never shipped: the real worker (apps/worker/src/serve_main.ts, same flags)
// with one fault injected from outside, so no production code carries a backdoor. Before the
// worker starts, WsTransport's send is wrapped: the first `gradChunk` frame of the n-th all-reduce
// round this process sends in (1: the first generation's weights check) goes out one byte short,
// so its payload no longer holds `count × bytesPerElement` bytes (`PROTO_BAD_TENSOR` wherever it
// lands: the star hub or the ring neighbour). Only once; every other frame is sent untouched.
//
//   GNET_TEST_CORRUPT_CHUNK_ROUND=4 node --conditions=source --import tsx test/src/misbehaving_worker_main.ts --coordinator ws://…
//
// It prints one NDJSON line, `test fault: sent a malformed gradChunk`, when the fault fires.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { WsTransport } from '@gnet/collective';
import { isChunkFrame } from '@gnet/protocol';
import { REPO_ROOT } from './cifar_dir.js';

/** The entry this one wraps. */
const WORKER_ENTRY = 'apps/worker/src/serve_main.ts';
/** The chunk frame's kind byte (offset 5) of a `gradChunk`, and the offset of its uint32 round. */
const KIND_OFFSET = 5;
const GRAD_CHUNK_KIND = 1;
const ROUND_OFFSET = 8;

const nth = Number(process.env['GNET_TEST_CORRUPT_CHUNK_ROUND']);
if (!Number.isInteger(nth) || nth < 1) {
  process.stderr.write(
    `misbehaving_worker_main: GNET_TEST_CORRUPT_CHUNK_ROUND must be a positive integer, but got '${process.env['GNET_TEST_CORRUPT_CHUNK_ROUND'] ?? ''}'\n`,
  );
  process.exit(2);
}

const rounds = new Set<number>();
let fired = false;
const send = WsTransport.prototype.send;
WsTransport.prototype.send = function corruptingSend(this: WsTransport, peerRank, frames, options) {
  if (!fired && frames instanceof Uint8Array && isChunkFrame(frames) && frames[KIND_OFFSET] === GRAD_CHUNK_KIND) {
    const round = new DataView(frames.buffer, frames.byteOffset, frames.byteLength).getUint32(ROUND_OFFSET, true);
    rounds.add(round);
    if (rounds.size === nth) {
      fired = true;
      process.stdout.write(
        `${JSON.stringify({ msg: 'test fault: sent a malformed gradChunk', round, peerRank, bytes: frames.byteLength - 1 })}\n`,
      );
      return send.call(this, peerRank, frames.subarray(0, frames.byteLength - 1), options);
    }
  }
  return send.call(this, peerRank, frames, options);
};

await import(pathToFileURL(join(REPO_ROOT, WORKER_ENTRY)).href);
