/**
 * The stage of the moderation tests: a real `openchat serve` child on 127.0.0.1 (restartable on
 * the same port and data directory), identities issued with its CA and recorded, as
 * `openchat ca issue` does but without a process each, and `openchat join --json` children.
 *
 * @module
 */

import { CertificateAuthority } from "../../server/authority.ts";
import { formatIdentityFile } from "../../protocol/identity_file.ts";
import { inTempDir } from "./cli.ts";
import { JoinProcess } from "./join_process.ts";
import { type ServeProcess, startServeProcess } from "./serve_process.ts";
import { type TestIdentity, toIdentity } from "./server_fixture.ts";

/** Longest wait for any one event in these tests. */
export const WAIT_MS = 20_000;

/** A running server and the people a test starts. */
export interface Stage {
  readonly dir: string;
  /** The server's data directory. */
  readonly data: string;
  readonly serve: ServeProcess;
  /** `127.0.0.1:PORT` of the server. */
  readonly address: string;
  /** The CA certificate (PEM), for raw clients. */
  readonly caPem: string;
  /** An identity file for `name/device` (issued once, then the same file). */
  identityFile(name: string, device?: string): Promise<string>;
  /** The same identity in memory, for raw clients. */
  identity(name: string, device?: string): Promise<TestIdentity>;
  /**
   * `openchat join --json` as `name/device` (its own config directory per device), joining
   * `room` (default `lobby`).
   */
  join(name: string, options?: { device?: string; room?: string }): Promise<JoinProcess>;
  /** Stops the server (SIGTERM) and starts it again on the same port and data directory. */
  restart(): Promise<void>;
}

/**
 * Runs `fn` with a server started with `serveArgs` in a temporary directory; every process is
 * killed afterwards, whatever happened.
 */
export async function withStage(
  fn: (stage: Stage) => Promise<void>,
  serveArgs: string[] = [],
): Promise<void> {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    let serve = await startServeProcess(data, serveArgs);
    const port = serve.port;
    const processes: JoinProcess[] = [];
    const issued = new Map<string, Promise<TestIdentity>>();
    const issue = (name: string, device: string) => {
      const key = `${name}/${device}`;
      let identity = issued.get(key);
      if (!identity) {
        identity = (async () => {
          const ca = await CertificateAuthority.load(data);
          try {
            const { issued } = await ca.issueUser(name, 30, async () => {}, { device });
            return await toIdentity(name, issued, device);
          } finally {
            ca.close();
          }
        })();
        issued.set(key, identity);
      }
      return identity;
    };
    const caPem = await Deno.readTextFile(`${data}/ca.pem`);
    const stage: Stage = {
      dir,
      data,
      get serve() {
        return serve;
      },
      address: `127.0.0.1:${port}`,
      caPem,
      identity: (name, device = "main") => issue(name, device),
      async identityFile(name, device = "main") {
        const identity = await issue(name, device);
        const path = `${dir}/${name}-${device}.pem`;
        await Deno.writeTextFile(
          path,
          formatIdentityFile(identity.certPem, identity.keyPem, caPem),
          { mode: 0o600 },
        );
        return path;
      },
      async join(name, options = {}) {
        const device = options.device ?? "main";
        const process = JoinProcess.start(
          stage.address,
          await stage.identityFile(name, device),
          `${dir}/config-${name}-${device}`,
          ["--no-history", "--room", options.room ?? "lobby"],
        );
        processes.push(process);
        return process;
      },
      async restart() {
        await serve.stop();
        serve = await startServeProcess(data, serveArgs, port);
      },
    };
    try {
      await fn(stage);
    } finally {
      await Promise.all(processes.map((p) => p.kill()));
      await serve.stop("SIGKILL");
    }
  });
}
