/**
 * InspIRCd, the IRC server the fan-out is compared with: installed from Debian when missing
 * (or skipped with the reason), configured in a temporary directory with TLS (ssl_gnutls, the
 * bench CA's server certificate), bound to 127.0.0.1 only, with flood and clone limits raised
 * so that it, like openchat, is limited only by its own speed.
 *
 * @module
 */

import { join } from "node:path";
import { sleep } from "./child.ts";
import { currentPlacement } from "./placement.ts";
import type { BenchPki } from "./pki.ts";
import type { RunningServer } from "./servers.ts";

const BINARY_CANDIDATES = ["/usr/sbin/inspircd", "/usr/bin/inspircd"];

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  try {
    const output = await new Deno.Command(cmd, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    return {
      code: output.code,
      text: new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr),
    };
  } catch (error) {
    return { code: -1, text: (error as Error).message };
  }
}

async function findBinary(): Promise<string | undefined> {
  for (const path of BINARY_CANDIDATES) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** InspIRCd's version line, and whether its GnuTLS module is there. */
export interface InspircdInstall {
  binary: string;
  version: string;
}

/**
 * Finds InspIRCd, installing Debian's package with apt-get when it is missing and we may.
 *
 * @returns the install, or a sentence saying why it is skipped.
 */
export async function ensureInspircd(
  log: (line: string) => void,
): Promise<InspircdInstall | string> {
  let binary = await findBinary();
  if (!binary) {
    const root = Deno.uid() === 0;
    const prefix = root ? [] : ["sudo", "-n"];
    log("InspIRCd is not installed: trying apt-get install inspircd ...");
    const env = {
      DEBIAN_FRONTEND: "noninteractive",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    };
    const install = () =>
      root
        ? run("apt-get", ["install", "-y", "-q", "--no-install-recommends", "inspircd"], env)
        : run(prefix[0]!, [
          ...prefix.slice(1),
          "apt-get",
          "install",
          "-y",
          "-q",
          "--no-install-recommends",
          "inspircd",
        ], env);
    let result = await install();
    if (result.code !== 0) {
      await (root
        ? run("apt-get", ["update", "-q"], env)
        : run(prefix[0]!, [...prefix.slice(1), "apt-get", "update", "-q"], env));
      result = await install();
    }
    binary = await findBinary();
    if (!binary) {
      return `InspIRCd could not be installed (apt-get exited ${result.code}: ${
        result.text.trim().split("\n").at(-1) ?? ""
      }); the IRC column is skipped`;
    }
  }
  const version = (await run(binary, ["--version"])).text.trim().split("\n")[0] ?? "unknown";
  return { binary, version };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The configuration: TLS only, loopback only, limits out of the way, nothing logged per line. */
function config(dir: string, port: number, pki: BenchPki): string {
  return `
<server name="bench.invalid" description="openchat bench" network="bench">
<admin name="bench" nick="bench" email="bench@bench.invalid">
<module name="ssl_gnutls">
<sslprofile name="bench" provider="gnutls" certfile="${pki.serverCertFile}" keyfile="${pki.serverKeyFile}" hash="sha256" requestclientcert="no">
<bind address="127.0.0.1" port="${port}" type="clients" sslprofile="bench">
<connect name="bench" allow="127.0.0.1" maxchans="50" timeout="60" pingfreq="600"
  hardsendq="1073741824" softsendq="1073741824" recvq="16777216" threshold="1000000000"
  commandrate="1000000000" fakelag="no" localmax="100000" globalmax="100000" maxconnwarn="no"
  useident="no" limit="100000" modes="" resolvehostnames="no" usednsbl="no">
<performance netbuffersize="65536" somaxconn="4096" limitsomaxconn="no" softlimit="100000" clonesonconnect="no" timeskipwarn="0">
<options allowhalfop="no" defaultmodes="nt" maxtargets="20" hostintopic="no" syntaxhints="no">
<channels users="100" opers="100">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="12" maxhost="64" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxgecos="128" maxaway="200" maxline="512">
<security hidesplits="no" announceinvites="dynamic" hideserver="" userstats="Pu" customversion="" runasuser="" runasgroup="">
<dns server="127.0.0.1" timeout="1">
<pid file="${join(dir, "inspircd.pid")}">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="sparse" target="${
    join(dir, "inspircd.log")
  }">
`;
}

/** Starts InspIRCd on a free loopback port; resolves once it accepts connections. */
export async function startInspircd(
  install: InspircdInstall,
  pki: BenchPki,
): Promise<RunningServer> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-bench-ircd-" });
  const port = freePort();
  const conf = join(dir, "inspircd.conf");
  await Deno.writeTextFile(conf, config(dir, port, pki));
  // A shell raises the descriptor limit for the thousands of sessions, then becomes InspIRCd
  // (on the server's CPU when the run pins; `exec` keeps the pid).
  const cpus = currentPlacement()?.server;
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -c 0; ulimit -n 65536 2>/dev/null || ulimit -n 16384; exec ${
        cpus ? `taskset -c ${cpus} ` : ""
      }"$0" --config "$1" --nofork --nopid --runasroot`,
      install.binary,
      conf,
    ],
    // In its own directory, so nothing it writes (a core file, say) lands in the work tree.
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output = (output + chunk).slice(-10_000);
    }
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  void child.status.then(() => exited = true);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      await collecting;
      throw new Error(`InspIRCd exited at start:\n${output}`);
    }
    try {
      const probe = await Deno.connect({ hostname: "127.0.0.1", port });
      probe.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`InspIRCd did not listen on ${port}:\n${output}`);
      }
      await sleep(50);
    }
  }
  return {
    kind: "irc",
    port,
    pid: child.pid,
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // gone
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          child.status,
          new Promise((resolve) => timer = setTimeout(resolve, 5_000)),
        ]);
        clearTimeout(timer);
        if (!exited) child.kill("SIGKILL");
      }
      await child.status;
      await collecting;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
