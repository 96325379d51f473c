/**
 * Real chat clients for the benchmark: `openchat join --json` processes, one per member, each
 * with an identity file made from a bench user and a config directory of its own. Every event a
 * client prints (one JSON object per line) goes to the member's `onEvent`.
 *
 * @module
 */

import { join } from "node:path";
import { fromBase64Url } from "../../crypto/bytes.ts";
import { encodePem } from "../../crypto/pem.ts";
import { formatIdentityFile } from "../../protocol/identity_file.ts";
import { MAIN } from "../../tests/support/cli.ts";
import { openchatTree } from "./placement.ts";
import type { UsersFile } from "./pki.ts";

/** One running client. */
export interface Member {
  index: number;
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  onEvent?: (event: Record<string, unknown>) => void;
  stderr: string;
  /** Errors and undelivered messages the client reported. */
  errors: string[];
}

/**
 * Writes the identity file of bench user `index` into `dir` and makes its config directory.
 *
 * @returns the identity file's path and the config directory.
 */
export async function memberFiles(
  dir: string,
  file: UsersFile,
  index: number,
): Promise<{ identityFile: string; configDir: string }> {
  const user = file.users[index]!;
  const identityFile = join(dir, `${user.name}.pem`);
  const certPem = encodePem(fromBase64Url(user.cert, false), "CERTIFICATE");
  await Deno.writeTextFile(identityFile, formatIdentityFile(certPem, file.keyPem, file.caPem), {
    mode: 0o600,
  });
  const configDir = join(dir, `config-${user.name}`);
  await Deno.mkdir(configDir, { recursive: true });
  return { identityFile, configDir };
}

/** Starts `openchat join --json` for one member in `room`. */
export function spawnMember(
  index: number,
  port: number,
  files: { identityFile: string; configDir: string },
  room: string,
): Member {
  const main = openchatTree() ? `${openchatTree()}/main.ts` : MAIN;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", main, ...[
      "join",
      `127.0.0.1:${port}`,
      "--identity",
      files.identityFile,
      "--json",
      "--config-dir",
      files.configDir,
      "--room",
      room,
      "--no-reconnect",
    ]],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const member: Member = { index, child, stdin: child.stdin.getWriter(), stderr: "", errors: [] };
  void (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        const event = JSON.parse(line);
        if (event.type === "error" || event.type === "undelivered") {
          member.errors.push(`${event.code ?? event.type}: ${event.message ?? event.reason}`);
        }
        member.onEvent?.(event);
      }
    }
  })();
  void (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      member.stderr = (member.stderr + chunk).slice(-5000);
    }
  })();
  return member;
}

/** Resolves with the first event `match` accepts, or rejects after `timeoutMs`. */
export function nextEvent(
  member: Member,
  match: (event: Record<string, unknown>) => boolean,
  timeoutMs: number,
  what: string,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      member.onEvent = undefined;
      reject(
        new Error(`client ${member.index}: no ${what} within ${timeoutMs} ms: ${member.stderr}`),
      );
    }, timeoutMs);
    member.onEvent = (event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      member.onEvent = undefined;
      resolve(event);
    };
  });
}

/** Closes a member's standard input (it quits) and waits, killing it after 5 s. */
export async function stopMember(member: Member): Promise<void> {
  try {
    await member.stdin.close();
  } catch {
    // gone
  }
  const timer = setTimeout(() => {
    try {
      member.child.kill("SIGKILL");
    } catch {
      // gone
    }
  }, 5_000);
  await member.child.status;
  clearTimeout(timer);
}
