/**
 * `openchat serve` as a child process: first run creates the CA and server certificate, later
 * runs reuse them (and re-issue when names change), logs are structured and never hold
 * payloads, and SIGTERM tells clients and exits cleanly.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat } from "./support/cli.ts";
import { joinedClient, RawClient } from "./support/raw_client.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { identityFromFile } from "./support/server_fixture.ts";
import { parseCertificate, subjectAltNames } from "../crypto/x509.ts";

Deno.test("serve: creates its CA, prints what to do next, relays, logs without payloads, and stops on SIGTERM", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const serve = await startServeProcess(data);
    try {
      const out = serve.stdout();
      assertStringIncludes(out, `Created a new CA in ${data}`);
      assertMatch(out, /CA fingerprint \(SHA-256\):\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);
      assertStringIncludes(out, `openchat ca invite alice --data-dir ${data}`);
      assertStringIncludes(out, "openchat enroll TOKEN");
      assertStringIncludes(out, `invites dial:              127.0.0.1:${serve.port}`);
      // The address is recorded for `ca invite`.
      assertEquals(
        JSON.parse(await Deno.readTextFile(`${data}/server.json`)).address,
        `127.0.0.1:${serve.port}`,
      );

      for (const name of ["alice", "bob"]) {
        const issued = await openchat(["ca", "issue", name, "--data-dir", data], { cwd: dir });
        assertEquals(issued.code, 0, issued.stderr);
      }
      const caPem = await Deno.readTextFile(`${data}/ca.pem`);
      const alice = await joinedClient(
        serve.port,
        caPem,
        await identityFromFile(`${dir}/alice.pem`, "alice"),
      );
      const bob = await joinedClient(
        serve.port,
        caPem,
        await identityFromFile(`${dir}/bob.pem`, "bob"),
      );
      const marker = "MARKER-4f1c9e-should-never-be-logged";
      await alice.send({ type: "msg", id: "m1", room: "lobby", payload: marker });
      assertEquals((await bob.next("msg")).payload, marker);
      await alice.next("ack");

      const status = await serve.stop("SIGTERM");
      for (const client of [alice, bob]) {
        const bye = await client.expectRefusal("server_shutdown");
        assertStringIncludes(bye.message, "shutting down");
      }
      assertEquals(status.code, 0);
      const log = serve.stderr();
      for (const line of log.trim().split("\n")) {
        assertMatch(line, /^\d{4}-\d\d-\d\dT\S+Z level=(debug|info|warn|error) event=\w+/);
      }
      assertMatch(
        log,
        /event=auth_ok user=alice device=main session=\S+ serial=[0-9a-f]+ addr=127\.0\.0\.1:\d+/,
      );
      assertStringIncludes(log, "event=shutdown");
      assert(!log.includes(marker), "a payload reached the log");
    } finally {
      await serve.stop("SIGKILL");
    }
  });
});

Deno.test("serve: later runs reuse the CA and certificate; new --hostname values re-issue the certificate", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const first = await startServeProcess(data);
    await first.stop();
    const caBefore = await Deno.readTextFile(`${data}/ca.pem`);
    const certBefore = await Deno.readTextFile(`${data}/server.pem`);
    assertEquals((await Deno.stat(`${data}/server-key.pem`)).mode! & 0o777, 0o600);

    const second = await startServeProcess(data);
    await second.stop();
    assert(!second.stdout().includes("Created a new CA"));
    assertEquals(await Deno.readTextFile(`${data}/ca.pem`), caBefore);
    assertEquals(await Deno.readTextFile(`${data}/server.pem`), certBefore);

    const third = await startServeProcess(data, ["--hostname", "chat.example.org"]);
    await third.stop();
    assertStringIncludes(
      third.stderr(),
      'event=server_certificate_issued reason="names changed to',
    );
    const cert = parseCertificate(await Deno.readTextFile(`${data}/server.pem`));
    assertEquals(subjectAltNames(cert), ["localhost", "127.0.0.1", "::1", "chat.example.org"]);
    assertEquals(await Deno.readTextFile(`${data}/ca.pem`), caBefore);
  });
});

Deno.test("serve: bad options and a port in use are clear errors", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const badPort = await openchat(["serve", "--port", "70000", "--data-dir", data]);
    assertEquals(badPort.code, 2);
    assertStringIncludes(badPort.stderr, "must be from 0 to 65535");
    const badName = await openchat(["serve", "--hostname", "bad name!", "--data-dir", data]);
    assertEquals(badName.code, 2);
    assertStringIncludes(badName.stderr, "is not a DNS name or IP address");

    const running = await startServeProcess(data);
    try {
      const clash = await openchat(["serve", "--port", String(running.port), "--data-dir", data]);
      assertEquals(clash.code, 1);
      assertStringIncludes(clash.stderr, `Cannot listen on 127.0.0.1:${running.port}`);
      // The running server was not disturbed.
      const probe = await RawClient.connect(
        running.port,
        await Deno.readTextFile(`${data}/ca.pem`),
      );
      await probe.hello(await Deno.readTextFile(`${data}/ca.pem`));
      probe.close();
    } finally {
      await running.stop();
    }
  });
});

Deno.test("--help works on every command", async () => {
  for (
    const args of [
      ["--help"],
      ["serve", "--help"],
      ["ca", "--help"],
      ["ca", "init", "--help"],
      ["ca", "invite", "--help"],
      ["ca", "cancel-invite", "--help"],
      ["ca", "issue", "--help"],
      ["enroll", "--help"],
      ["renew", "--help"],
      ["device", "--help"],
      ["device", "add", "--help"],
      ["join", "--help"],
      ["ca", "list", "--help"],
      ["ca", "revoke", "--help"],
    ]
  ) {
    const result = await openchat(args);
    assertEquals(result.code, 0, args.join(" "));
    assertStringIncludes(result.stdout, "Usage: openchat");
  }
});
