/**
 * A real `nats-server` with JetStream for tests: on a free port of 127.0.0.1, with its store in
 * a temporary directory, stopped (and restarted on the same port and store, for outage tests)
 * by the test, and cleaned up afterwards.
 *
 * @module
 */

/** How long the server may take to accept connections. */
const START_TIMEOUT_MS = 10_000;

/** The `nats-server` binary: `$NATS_SERVER`, else on PATH, else Debian's place. */
export function natsServerBinary(): string {
  const named = Deno.env.get("NATS_SERVER");
  if (named) return named;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/usr/bin"])) {
    try {
      if (Deno.statSync(`${dir}/nats-server`).isFile) return `${dir}/nats-server`;
    } catch {
      // not here
    }
  }
  throw new Error("nats-server is not installed (apt-get install nats-server)");
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A running `nats-server -js`. */
export class NatsServer {
  #child: Deno.ChildProcess | undefined;
  #log = "";

  private constructor(readonly port: number, readonly storeDir: string) {}

  /** `nats://127.0.0.1:PORT`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** What the server printed so far. */
  get log(): string {
    return this.#log;
  }

  /** Starts a server on a free port with a fresh store directory. */
  static async start(): Promise<NatsServer> {
    const storeDir = await Deno.makeTempDir({ prefix: "openchat-nats-" });
    const server = new NatsServer(freePort(), storeDir);
    await server.restart();
    return server;
  }

  /** Starts the server again on the same port and store (after {@linkcode stop}). */
  async restart(): Promise<void> {
    if (this.#child) throw new Error("nats-server is already running");
    const child = new Deno.Command(natsServerBinary(), {
      args: ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.storeDir],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    void (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#log += chunk;
      }
    })();
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!this.#log.includes("Server is ready")) {
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`nats-server did not start:\n${this.#log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 5_000);
    await child.status;
    clearTimeout(timer);
  }

  /** Stops the server and deletes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    await Deno.remove(this.storeDir, { recursive: true }).catch(() => {});
  }
}

/**
 * Every file under `dir` (a nats-server's store), as text: bytes that are not UTF-8 become
 * replacement characters, so that a test can look for what was written to disk.
 */
export async function storedText(dir: string): Promise<string> {
  let all = "";
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) all += await storedText(path);
    else if (entry.isFile) all += new TextDecoder().decode(await Deno.readFile(path));
  }
  return all;
}
