/**
 * A test relay between clients and the server: it terminates TLS with a certificate from the
 * same CA, opens its own TLS connection to the real server, and passes frames along, recording
 * every one. Tests use it to see exactly what the server relays (ciphertext only, we expect),
 * and to play an attacker on the wire: replaying, rewriting, dropping or holding frames in
 * either direction (`intercept`), and sending frames of its own (`inject`, `injectToServer`).
 * `malicious_relay.ts` builds the attacker that also holds the CA key on top of it.
 *
 * It does not break the in-band proofs: it forwards the server's proof and the client's
 * unchanged (a relay like this is why openchat encrypts end to end; see docs/SECURITY.md).
 *
 * @module
 */

import { type Issuer, issueServerCertificate } from "../../crypto/x509.ts";
import { encodeFrame, FrameDecoder } from "../../protocol/framing.ts";

/** One frame seen by the relay. */
export interface CapturedFrame {
  /** Which client connection (0, 1, ...) it belongs to. */
  connection: number;
  direction: "to_server" | "to_client";
  /** The frame body as text (JSON). */
  text: string;
  message: Record<string, unknown>;
}

/** Decides what a frame on its way to a client becomes: kept, replaced, or dropped (null). */
export type Rewrite = (frame: CapturedFrame) => Record<string, unknown> | null | undefined;

/**
 * Decides what a frame, in either direction, becomes: undefined passes it on unchanged; a list
 * is sent instead, in order (empty: dropped).
 */
export type Intercept = (frame: CapturedFrame) => Record<string, unknown>[] | undefined;

interface Pipe {
  index: number;
  /** Writes to the client, one frame after the other (forwarded and injected never interleave). */
  toClient: (bytes: Uint8Array) => Promise<void>;
  toServer: (bytes: Uint8Array) => Promise<void>;
}

/** A running relay. */
export class Relay {
  /** Every frame either side sent, in the order the relay read them (before any intercept). */
  readonly frames: CapturedFrame[] = [];
  /** Frames the relay sent on its own (`inject`, `injectToServer`). */
  readonly injected: CapturedFrame[] = [];
  readonly #listener: Deno.TlsListener;
  readonly #pipes: Pipe[] = [];
  readonly #conns = new Set<Deno.Conn>();
  /** Rewrites frames on their way to clients (after `intercept`, which sees them first). */
  rewrite: Rewrite | undefined;
  /** Sees every frame in both directions first; see {@linkcode Intercept}. */
  intercept: Intercept | undefined;
  #closed = false;

  private constructor(
    listener: Deno.TlsListener,
    private readonly serverPort: number,
    private readonly caPem: string,
  ) {
    this.#listener = listener;
    void this.#accept();
  }

  /** Starts a relay on 127.0.0.1 to the server on `serverPort`, with a certificate from `issuer`. */
  static async start(issuer: Issuer, caPem: string, serverPort: number): Promise<Relay> {
    const identity = await issueServerCertificate(issuer, {
      hostnames: ["localhost", "127.0.0.1"],
    });
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: identity.certPem,
      key: identity.privateKeyPem,
    });
    return new Relay(listener, serverPort, caPem);
  }

  /** The relay's port. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Frames to clients whose message has `type`. */
  toClients(type?: string): CapturedFrame[] {
    return this.frames.filter((f) =>
      f.direction === "to_client" && (!type || f.message.type === type)
    );
  }

  /** Sends a frame to client connection `index`, as if the server had sent it. */
  async inject(index: number, message: Record<string, unknown>): Promise<void> {
    await this.#send(index, "to_client", message);
  }

  /** Sends a frame to the server on connection `index`, as if its client had sent it. */
  async injectToServer(index: number, message: Record<string, unknown>): Promise<void> {
    await this.#send(index, "to_server", message);
  }

  async #send(
    index: number,
    direction: CapturedFrame["direction"],
    message: Record<string, unknown>,
  ): Promise<void> {
    const pipe = this.#pipes.find((p) => p.index === index);
    if (!pipe) throw new Error(`No connection ${index}`);
    const text = JSON.stringify(message);
    this.injected.push({ connection: index, direction, text, message });
    const bytes = encodeFrame(message);
    await (direction === "to_client" ? pipe.toClient(bytes) : pipe.toServer(bytes));
  }

  /** Stops listening and closes every connection. */
  close(): void {
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // closed
    }
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  }

  async #accept(): Promise<void> {
    let index = 0;
    while (!this.#closed) {
      let client: Deno.TlsConn;
      try {
        client = await this.#listener.accept();
      } catch {
        return;
      }
      const connection = index++;
      void this.#pipe(client, connection);
    }
  }

  async #pipe(client: Deno.TlsConn, index: number): Promise<void> {
    let server: Deno.TlsConn;
    try {
      server = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: this.serverPort,
        caCerts: [this.caPem],
      });
    } catch {
      client.close();
      return;
    }
    this.#conns.add(client);
    this.#conns.add(server);
    const pipe: Pipe = { index, toClient: serialWriter(client), toServer: serialWriter(server) };
    this.#pipes.push(pipe);
    const close = () => {
      for (const conn of [client, server]) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
    };
    await Promise.all([
      this.#forward(client, pipe.toServer, index, "to_server").finally(close),
      this.#forward(server, pipe.toClient, index, "to_client").finally(close),
    ]);
  }

  async #forward(
    from: Deno.Conn,
    write: (bytes: Uint8Array) => Promise<void>,
    index: number,
    direction: CapturedFrame["direction"],
  ): Promise<void> {
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const count = await from.read(buffer);
        if (count === null) return;
        decoder.push(buffer.subarray(0, count));
        for (let body = decoder.next(); body; body = decoder.next()) {
          const text = new TextDecoder().decode(body);
          const frame: CapturedFrame = {
            connection: index,
            direction,
            text,
            message: JSON.parse(text),
          };
          this.frames.push(frame);
          for (const message of this.intercept?.(frame) ?? [frame.message]) {
            const replaced = direction === "to_client" && this.rewrite
              ? this.rewrite({ ...frame, message })
              : undefined;
            if (replaced === null) continue;
            await write(encodeFrame(replaced ?? message));
          }
        }
      }
    } catch {
      // one side went away
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Writes to `conn` one whole frame at a time, in call order. */
function serialWriter(conn: Deno.Conn): (bytes: Uint8Array) => Promise<void> {
  let tail = Promise.resolve();
  return (bytes) => {
    const done = tail.then(() => writeAll(conn, bytes));
    tail = done.catch(() => {});
    return done;
  };
}
