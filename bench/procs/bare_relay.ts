/**
 * The ceiling: a relay with openchat's framing and transport (`protocol/framing.ts`,
 * `FramedConnection` over `Deno.listenTls`) and nothing else: no set-up, no validation, no rooms.
 * Every frame a connection sends is written, as received, to every other connection.
 *
 * Usage: `deno run -A bench/procs/bare_relay.ts CERT_FILE KEY_FILE`. Prints `{"ok":true,"port":N}`;
 * exits when standard input closes.
 *
 * @module
 */

import { frameBytes } from "../../protocol/framing.ts";
import { FramedConnection } from "../../protocol/transport.ts";
import { reply_, serveCommands } from "../lib/child.ts";

const [certFile, keyFile] = Deno.args;
if (!certFile || !keyFile) throw new Error("usage: bare_relay.ts CERT_FILE KEY_FILE");
const listener = Deno.listenTls({
  hostname: "127.0.0.1",
  port: 0,
  cert: await Deno.readTextFile(certFile),
  key: await Deno.readTextFile(keyFile),
});
const connections = new Set<FramedConnection>();

async function handle(tls: Deno.TlsConn): Promise<void> {
  const conn = new FramedConnection(tls);
  connections.add(conn);
  await conn.run((body) => {
    const frame = frameBytes(body);
    for (const other of connections) if (other !== conn) other.send(frame);
  });
  connections.delete(conn);
  await conn.close();
}

void (async () => {
  for (;;) {
    let tls: Deno.TlsConn;
    try {
      tls = await listener.accept();
    } catch {
      return;
    }
    void handle(tls);
  }
})();
reply_({ ok: true, port: (listener.addr as Deno.NetAddr).port, pid: Deno.pid });
await serveCommands((command) =>
  command.cmd === "stats"
    ? Promise.resolve({ sessions: connections.size })
    : Promise.reject(new Error(`unknown command ${JSON.stringify(command.cmd)}`))
);
listener.close();
Deno.exit(0);
