// Two tiny node programs (run with `node -e` inside host namespaces) that measure one TCP
// transfer: the receiver listens on an address, takes one connection, counts bytes from the first
// to the last and prints a TransferReport; the sender dials (retrying until the receiver
// listens, at most 10 s) and sends N bytes in 1 MiB writes, honouring backpressure.

/** What the receiver prints (one JSON line). */
export interface TransferReport {
  bytes: number;
  /** From the first byte received to the end of the stream. */
  ms: number;
  gbitPerSecond: number;
  /** The address the connection came from. */
  remote: string;
}

/** argv: host port. */
export const receiveProgram = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const server = net.createServer((socket) => {
  let bytes = 0;
  let first = 0;
  socket.on('data', (chunk) => {
    if (bytes === 0) first = performance.now();
    bytes += chunk.length;
  });
  socket.on('end', () => {
    const ms = performance.now() - first;
    console.log(JSON.stringify({ bytes, ms, gbitPerSecond: (bytes * 8) / (ms / 1000) / 1e9, remote: socket.remoteAddress }));
    socket.end();
    server.close();
  });
});
server.listen(Number(port), host);
`;

/** argv: host port bytes. */
export const sendProgram = `
const net = require('node:net');
const [host, port, total] = process.argv.slice(1);
const deadline = Date.now() + 10000;
const dial = () => {
  const socket = net.connect(Number(port), host);
  socket.once('error', (err) => {
    if (err.code !== 'ECONNREFUSED' || Date.now() > deadline) throw err;
    setTimeout(dial, 20);
  });
  socket.once('connect', () => {
    const block = Buffer.alloc(1 << 20, 7);
    let left = Number(total);
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!socket.write(block.subarray(0, n))) return socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
};
dial();
`;
