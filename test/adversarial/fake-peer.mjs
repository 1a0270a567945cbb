#!/usr/bin/env node
// A hostile smig peer as its own process, for the adversarial suite: it holds the cluster key and speaks the
// protocol (the built dist/ modules), but lies. Logs `listening ADDR` on stderr, then one line per event.
//
//   node fake-peer.mjs swallow-key KEYFILE LENGTH SHA256HEX RECEIPT DELAYMS
//       a key relay that keeps its share and, DELAYMS after the source's END, answers DONE{ok, LENGTH, SHA256}
//   node fake-peer.mjs forge-leader KEYFILE LENGTH SHA256HEX RECEIPT
//       a leader: takes every relay link, acknowledges all data (PROGRESS), and after END answers
//       DONE{ok, LENGTH, SHA256}
// RECEIPT = none | random-signature | random-mac: what the forged DONE carries as the destination's receipt.
import { randomBytes } from 'node:crypto';

const root = new URL('../../dist/', import.meta.url);
const { listenChannel, formatHostPort } = await import(new URL('net/index.js', root).href);
const { FrameType, decodeMessage } = await import(new URL('protocol/index.js', root).href);
const { loadKeyFile } = await import(new URL('crypto/keyfile.js', root).href);

const [mode, keyFile, lengthText, shaHex, receipt, delayMs] = process.argv.slice(2);
const key = await loadKeyFile(keyFile);
const length = Number(lengthText);
const sha256 = Uint8Array.from(Buffer.from(shaHex, 'hex'));
const log = (s) => process.stderr.write(`fake-peer ${s}\n`);

function done() {
  const msg = { type: FrameType.DONE, ok: true, sha256, length, exitStatus: null, message: `verified ${length} bytes (SHA-256) and installed` };
  if (receipt === 'random-signature') msg.receipt = Uint8Array.from([1, ...randomBytes(64)]);
  if (receipt === 'random-mac') msg.receipt = Uint8Array.from([2, ...randomBytes(32)]);
  return msg;
}

const links = new Set();
let ended = false;
let received = 0;
const listener = await listenChannel({ host: '127.0.0.1', port: 0 }, {
  key,
  onConnection(conn) {
    links.add(conn);
    void conn.closed.then(() => links.delete(conn));
    let via = null;
    conn.onFrame(async (type, body) => {
      const msg = decodeMessage(type, body);
      if (msg.type === FrameType.SESSION) {
        via = msg.role === 'leader' ? msg.via : msg.role;
        log(`session role=${msg.role} via=${via}`);
        return;
      }
      if (mode === 'swallow-key' && msg.type === FrameType.KEY) {
        log('share swallowed');
        return;
      }
      if (mode === 'swallow-key' && msg.type === FrameType.END) {
        setTimeout(() => {
          log('forged DONE');
          void conn.sendMessage(done()).then(() => conn.close(), () => {});
        }, Number(delayMs ?? 0));
        return;
      }
      if (mode === 'forge-leader' && msg.type === FrameType.DATA_SEGMENT) {
        // one data relay: its segments come in order; acknowledge them all, so that the source sends END
        received = Math.max(received, msg.offset + msg.bytes.length);
        await conn.sendMessage({ type: FrameType.PROGRESS, offset: received });
        return;
      }
      if (mode === 'forge-leader' && msg.type === FrameType.END && via === 'data-relay' && !ended) {
        ended = true;
        log('forged DONE');
        const d = done();
        for (const l of links) void l.sendMessage(d).then(() => l.close(), () => {});
        return;
      }
      if (mode === 'forge-leader' && msg.type === FrameType.END) return;
    });
  },
});
log(`listening ${formatHostPort(listener.address)}`);
process.on('SIGTERM', () => {
  for (const l of links) l.destroy();
  void listener.close().then(() => process.exit(0));
});
