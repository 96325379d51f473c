/**
 * The ceiling: a relay with openchat's framing and transport (`protocol/framing.ts`,
 * `FramedConnection` over the server's TLS listener, `server/tls_listener.ts`) and nothing else:
 * no set-up, no validation, no rooms. Every frame a connection sends is written, as received, to
 * every other connection. With `--deno-tls` it listens with `Deno.listenTls` instead (Deno's other
 * TLS stack, which cannot turn Nagle's algorithm off), for reference.
 *
 * Usage: `deno run -A bench/procs/bare_relay.ts CERT_FILE KEY_FILE [--deno-tls]`. Prints
 * `{"ok":true,"port":N}`; exits when standard input closes.
 *
 * @module
 */

import { frameBytes } from "../../protocol/framing.ts";
import { type ByteStream, FramedConnection } from "../../protocol/transport.ts";
import { TlsListener } from "../../server/tls_listener.ts";
import { reply_, serveCommands } from "../lib/child.ts";

const [certFile, keyFile, mode] = Deno.args;
if (!certFile || !keyFile) throw new Error("usage: bare_relay.ts CERT_FILE KEY_FILE [--deno-tls]");
const certPem = await Deno.readTextFile(certFile);
const keyPem = await Deno.readTextFile(keyFile);
const connections = new Set<FramedConnection>();

async function handle(stream: ByteStream): Promise<void> {
  // Written as the server writes: once per turn of the event loop.
  const conn = new FramedConnection(stream, { writeTiming: "turn" });
  connections.add(conn);
  await conn.run((body) => {
    const frame = frameBytes(body);
    for (const other of connections) if (other !== conn) other.send(frame);
  });
  connections.delete(conn);
  await conn.close();
}

let port: number;
let stopListening: () => void;
if (mode === "--deno-tls") {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem });
  port = (listener.addr as Deno.NetAddr).port;
  stopListening = () => listener.close();
  void (async () => {
    for (;;) {
      try {
        void handle(await listener.accept());
      } catch {
        return;
      }
    }
  })();
} else {
  const listener = await TlsListener.listen({
    hostname: "127.0.0.1",
    port: 0,
    certPem,
    keyPem,
    handshakeTimeoutMs: 10_000,
  });
  port = listener.addr.port;
  stopListening = () => listener.close();
  void (async () => {
    for (let stream = await listener.accept(); stream; stream = await listener.accept()) {
      void handle(stream);
    }
  })();
}
reply_({ ok: true, port, pid: Deno.pid });
await serveCommands((command) =>
  command.cmd === "stats"
    ? Promise.resolve({ sessions: connections.size })
    : Promise.reject(new Error(`unknown command ${JSON.stringify(command.cmd)}`))
);
stopListening();
Deno.exit(0);
