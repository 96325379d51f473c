/**
 * Offline delivery through a real `openchat serve` child process: a message acknowledged just
 * before the server is killed with SIGKILL is still there for an offline member after a restart,
 * and the retention options are taken, shown and checked.
 */

import { assertEquals, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat } from "./support/cli.ts";
import { historyOf, join, joinedOf, online } from "./support/offline_client.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { identityFromFile, type TestIdentity } from "./support/server_fixture.ts";

async function issued(dir: string, data: string, name: string): Promise<TestIdentity> {
  const result = await openchat(["ca", "issue", name, "--data-dir", data], { cwd: dir });
  assertEquals(result.code, 0, result.stderr);
  return await identityFromFile(`${dir}/${name}.pem`, name);
}

Deno.test("kill -9 right after an acknowledged message: after a restart the offline member still gets it", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    let serve = await startServeProcess(data, [
      "--retention-days",
      "7",
      "--retention-messages",
      "50",
    ]);
    try {
      assertStringIncludes(
        serve.stdout(),
        "messages kept:             7 days, at most 50 per room",
      );
      const alice = await issued(dir, data, "alice");
      const bob = await issued(dir, data, "bob");
      const fx = { port: serve.port, caPem: await Deno.readTextFile(`${data}/ca.pem`) };
      const a = await online(fx, alice);
      await join(a.client, "lobby");
      const b = await online(fx, bob);
      await join(b.client, "lobby");
      b.client.close();
      await a.client.next("presence", (m) => m.event === "leave");
      await a.client.send({ type: "msg", id: "m1", room: "lobby", payload: "sealed-before-kill" });
      assertEquals(await a.client.next("ack"), { type: "ack", id: "m1", recipients: 1 });
      // No goodbye, no shutdown: the process is gone at once.
      assertEquals((await serve.stop("SIGKILL")).signal, "SIGKILL");
      a.client.close();

      serve = await startServeProcess(data);
      const back = { ...fx, port: serve.port };
      const reader = await online(back, bob);
      const joined = await joinedOf(reader.client, "lobby");
      assertEquals(joined.seq, 1);
      assertEquals(joined.offline.map((d) => `${d.user}/${d.device}`), ["alice/main"]);
      const history = await historyOf(reader.client, "lobby");
      assertEquals(history.entries.map((e) => [e.seq, e.from, e.payload]), [
        [1, "alice", "sealed-before-kill"],
      ]);
      assertEquals(history.sessions.map((s) => s.user), ["alice"]);
      reader.client.close();
    } finally {
      await serve.stop();
    }
  });
});

Deno.test("serve: retention options out of range are usage errors", async () => {
  await inTempDir(async (dir) => {
    for (
      const [option, value] of [
        ["--retention-days", "0"],
        ["--retention-days", "x"],
        ["--retention-messages", "0"],
        ["--retention-messages", "10000001"],
      ] as const
    ) {
      const result = await openchat(["serve", option, value, "--data-dir", `${dir}/data`]);
      assertEquals(result.code, 2, `${option} ${value}`);
      assertStringIncludes(result.stderr, option);
    }
  });
});
