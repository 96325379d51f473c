/**
 * `openchat ca` run as a child process in temporary directories: the happy paths, and every bad
 * input refused with a clear message, the right exit code, and nothing written.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat, snapshot } from "./support/cli.ts";
import { requireTool, run } from "./support/tools.ts";
import { parseIdentityFile } from "../protocol/identity_file.ts";
import { importIdentityPrivateKey } from "../crypto/keys.ts";
import { parseCertificate, privateKeyMatches } from "../crypto/x509.ts";

async function initialised<T>(fn: (dir: string, data: string) => Promise<T>): Promise<T> {
  return await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const init = await openchat(["ca", "init", "--data-dir", data, "--name", "Test CA"], {
      cwd: dir,
    });
    assertEquals(init.code, 0, init.stderr);
    return await fn(dir, data);
  });
}

Deno.test("ca init creates the CA once, with private files, and refuses to overwrite it", async () => {
  await initialised(async (dir, data) => {
    const modes = async (name: string) => (await Deno.stat(`${data}/${name}`)).mode! & 0o777;
    assertEquals(await modes("ca-key.pem"), 0o600);
    assertEquals(((await Deno.stat(data)).mode ?? 0) & 0o777, 0o700);
    const before = await snapshot(data);
    const again = await openchat(["ca", "init", "--data-dir", data], { cwd: dir });
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "A CA already exists");
    assertStringIncludes(again.stderr, "refusing to overwrite it");
    assertEquals(await snapshot(data), before);
  });
});

Deno.test("ca issue writes one 0600 identity file: certificate, key, CA; openssl agrees", async () => {
  await requireTool("openssl", ["version"]);
  await initialised(async (dir, data) => {
    const issued = await openchat(["ca", "issue", "alice", "--data-dir", data, "--days", "30"], {
      cwd: dir,
    });
    assertEquals(issued.code, 0, issued.stderr);
    assertStringIncludes(issued.stdout, "Issued a certificate to alice");
    const path = `${dir}/alice.pem`;
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    const parts = parseIdentityFile(text);
    const cert = parseCertificate(parts.certificate);
    assertMatch(cert.subject, /CN=alice/);
    const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
    assert(days > 29.9 && days <= 30, `lifetime ${days} days`);
    assert(await privateKeyMatches(cert, await importIdentityPrivateKey(parts.privateKey)));
    assertEquals(
      parseCertificate(parts.caCertificate).rawData,
      parseCertificate(await Deno.readTextFile(`${data}/ca.pem`)).rawData,
    );
    // openssl reads the identity file's first certificate and checks it against the CA.
    const verified = await run("openssl", ["verify", "-CAfile", `${data}/ca.pem`, path]);
    assertEquals(verified.code, 0, verified.stderr);
  });
});

Deno.test("ca issue --out writes elsewhere, refuses to overwrite without --force, and overwrites with it", async () => {
  await initialised(async (dir, data) => {
    const out = `${dir}/keys/bob-identity.pem`;
    await Deno.mkdir(`${dir}/keys`);
    assertEquals(
      (await openchat(["ca", "issue", "bob", "--out", out, "--data-dir", data], { cwd: dir })).code,
      0,
    );
    const first = await Deno.readTextFile(out);
    const listBefore = await snapshot(data);
    const refused = await openchat(["ca", "issue", "bob", "--out", out, "--data-dir", data], {
      cwd: dir,
    });
    assertEquals(refused.code, 1);
    assertStringIncludes(refused.stderr, "already exists; pass --force to overwrite it");
    assertEquals(await Deno.readTextFile(out), first);
    assertEquals(await snapshot(data), listBefore);
    const forced = await openchat([
      "ca",
      "issue",
      "bob",
      "--out",
      out,
      "--force",
      "--data-dir",
      data,
    ], { cwd: dir });
    assertEquals(forced.code, 0, forced.stderr);
    assert((await Deno.readTextFile(out)) !== first);
    assertEquals((await Deno.stat(out)).mode! & 0o777, 0o600);
  });
});

Deno.test("ca list shows every certificate with name, serial, fingerprint, expiry and status", async () => {
  await initialised(async (dir, data) => {
    const empty = await openchat(["ca", "list", "--data-dir", data], { cwd: dir });
    assertStringIncludes(empty.stdout, "No certificates issued yet");
    for (const name of ["alice", "bob"]) {
      assertEquals(
        (await openchat(["ca", "issue", name, "--data-dir", data], { cwd: dir })).code,
        0,
      );
    }
    const table = await openchat(["ca", "list", "--data-dir", data], { cwd: dir });
    assertEquals(table.code, 0);
    assertMatch(table.stdout, /^NAME\s+DEVICE\s+SERIAL\s+STATUS\s+EXPIRES\s+FINGERPRINT/);
    assertMatch(
      table.stdout,
      /\nalice\s+main\s+[0-9a-f]{32}\s+valid\s+\d{4}-\d\d-\d\d\s+([0-9A-F]{2}:){31}[0-9A-F]{2}\n/,
    );
    const json = JSON.parse(
      (await openchat(["ca", "list", "--json", "--data-dir", data], { cwd: dir })).stdout,
    );
    assertEquals(json.map((r: { name: string }) => r.name), ["alice", "bob"]);
    assertEquals(json[0].status, "valid");
    assertMatch(json[0].serial, /^[0-9a-f]{32}$/);
    assertMatch(json[0].not_after, /^\d{4}-\d\d-\d\dT/);
  });
});

Deno.test("ca revoke by name and by serial; the list shows it; repeats and unknowns change nothing", async () => {
  await initialised(async (dir, data) => {
    for (const name of ["alice", "bob"]) {
      assertEquals(
        (await openchat(["ca", "issue", name, "--data-dir", data], { cwd: dir })).code,
        0,
      );
    }
    const list = async () =>
      JSON.parse(
        (await openchat(["ca", "list", "--json", "--data-dir", data], { cwd: dir })).stdout,
      );
    const byName = await openchat([
      "ca",
      "revoke",
      "alice",
      "--reason",
      "lost laptop",
      "--data-dir",
      data,
    ], { cwd: dir });
    assertEquals(byName.code, 0, byName.stderr);
    assertStringIncludes(byName.stdout, "Revoked alice");
    const bobSerial: string = (await list())[1].serial;
    const colons = bobSerial.match(/../g)!.join(":").toUpperCase();
    const bySerial = await openchat(["ca", "revoke", colons, "--data-dir", data], { cwd: dir });
    assertEquals(bySerial.code, 0, bySerial.stderr);
    const after = await list();
    assertEquals(after.map((r: { status: string }) => r.status), ["revoked", "revoked"]);
    assertEquals(after[0].revoke_reason, "lost laptop");
    const table = await openchat(["ca", "list", "--data-dir", data], { cwd: dir });
    assertMatch(table.stdout, /\nalice\s+main\s+[0-9a-f]+\s+revoked/);

    const before = await snapshot(data);
    const again = await openchat(["ca", "revoke", "alice", "--data-dir", data], { cwd: dir });
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, '"alice" is already revoked; nothing changed');
    for (const unknown of ["zed", "deadbeef"]) {
      const result = await openchat(["ca", "revoke", unknown, "--data-dir", data], { cwd: dir });
      assertEquals(result.code, 1, unknown);
      assertStringIncludes(
        result.stderr,
        `No certificate was issued to a user, device or serial "${unknown}"`,
      );
    }
    assertEquals(await snapshot(data), before);
  });
});

Deno.test("ca issue refuses invalid names and lifetimes with exit 2 and writes nothing", async () => {
  await initialised(async (dir, data) => {
    const cases: [string[], string][] = [
      [["../x"], 'Invalid user name "../x": must start with a letter or digit'],
      [["Alice"], 'Invalid user name "Alice": must be lower case'],
      [[""], 'Invalid user name "": must not be empty'],
      [["a".repeat(33)], "must be at most 32 characters (received 33)"],
      [["al ice"], "may only contain a-z, 0-9, '_' and '-'"],
      [["bob", "--days", "0"], "argument '0' is invalid. must be from 1 to 3650, received 0"],
      [["bob", "--days", "-5"], "argument '-5' is invalid. must be from 1 to 3650, received -5"],
      [["bob", "--days", "ten"], `expected a whole number, received "ten"`],
      [["bob", "--days", "3651"], "must be from 1 to 3650, received 3651"],
    ];
    const before = { cwd: await snapshot(dir) };
    for (const [args, message] of cases) {
      const result = await openchat(["ca", "issue", ...args, "--data-dir", data], { cwd: dir });
      assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assertStringIncludes(result.stderr, message);
      assertEquals(await snapshot(dir), before.cwd, `${args.join(" ")} wrote something`);
    }
    // At the edge: 32 characters and one day are accepted.
    const edge = await openchat(
      ["ca", "issue", "a".repeat(32), "--days", "1", "--data-dir", data],
      { cwd: dir },
    );
    assertEquals(edge.code, 0, edge.stderr);
  });
});

Deno.test("ca commands without a CA say how to make one, exit 1 and create nothing", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/nowhere`;
    for (const args of [["issue", "alice"], ["list"], ["revoke", "alice"]]) {
      const result = await openchat(["ca", ...args, "--data-dir", data], { cwd: dir });
      assertEquals(result.code, 1, args.join(" "));
      assertStringIncludes(result.stderr, `No CA in ${data}: create one with \`openchat ca init\``);
    }
    assertEquals(await snapshot(dir), {});
  });
});

Deno.test("ca commands on a corrupt or unusable data directory name the problem and change nothing", async () => {
  await initialised(async (dir, data) => {
    assertEquals(
      (await openchat(["ca", "issue", "alice", "--data-dir", data], { cwd: dir })).code,
      0,
    );
    await Deno.remove(`${dir}/alice.pem`);
    const good = await snapshot(data);
    const corruptions: [string, () => Promise<void>, string][] = [
      [
        "ca.pem",
        () => Deno.writeTextFile(`${data}/ca.pem`, "not a certificate"),
        "ca.pem is not a PEM certificate",
      ],
      [
        "ca-key.pem",
        () =>
          Deno.writeTextFile(
            `${data}/ca-key.pem`,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
          ),
        "ca-key.pem is not a PKCS#8 P-256 private key",
      ],
      ["openchat.db", async () => {
        for (const suffix of ["", "-wal", "-shm"]) {
          await Deno.remove(`${data}/openchat.db${suffix}`).catch(() => {});
        }
        await Deno.writeTextFile(`${data}/openchat.db`, "garbage ".repeat(200));
      }, "is not a usable openchat database"],
    ];
    for (const [what, corrupt, message] of corruptions) {
      const saved = await snapshot(data);
      await corrupt();
      const broken = await snapshot(data);
      for (const args of [["issue", "bob"], ["list"], ["revoke", "alice"]]) {
        const result = await openchat(["ca", ...args, "--data-dir", data], { cwd: dir });
        assertEquals(result.code, 1, `${what}: ${args.join(" ")}: ${result.stderr}`);
        assertStringIncludes(result.stderr, `Data directory ${data} is unusable`);
        assertStringIncludes(result.stderr, message);
        assertEquals(
          await snapshot(data),
          broken,
          `${what}: ${args.join(" ")} changed the data directory`,
        );
      }
      // Put it back for the next corruption.
      for (const [name, value] of Object.entries(saved)) {
        await Deno.writeFile(`${data}/${name}`, Uint8Array.fromBase64(value.split(":")[1]!));
      }
    }
    assertEquals(Object.keys(good).length > 0, true);
    const notADir = `${dir}/plain-file`;
    await Deno.writeTextFile(notADir, "x");
    const result = await openchat(["ca", "list", "--data-dir", notADir], { cwd: dir });
    assertEquals(result.code, 1);
    assertStringIncludes(
      result.stderr,
      `Data directory ${notADir} is unusable: is not a directory`,
    );
    const init = await openchat(["ca", "init", "--data-dir", notADir], { cwd: dir });
    assertEquals(init.code, 1);
    assertStringIncludes(init.stderr, "cannot be used as a data directory");
  });
});

Deno.test("openchat --help and ca --help describe every command", async () => {
  const top = await openchat(["--help"]);
  assertEquals(top.code, 0);
  assertStringIncludes(top.stdout, "ca");
  for (const sub of ["init", "issue", "list", "revoke"]) {
    const help = await openchat(["ca", sub, "--help"]);
    assertEquals(help.code, 0, sub);
    assertStringIncludes(help.stdout, "--data-dir");
  }
  const typo = await openchat(["ca", "isue"]);
  assertEquals(typo.code, 2);
  assertStringIncludes(typo.stderr, "(Did you mean issue?)");
});

Deno.test("ca issue --csr signs a request made by openssl req: the certificate carries that key, and nothing of the key reaches the CA", async () => {
  await requireTool("openssl", ["version"]);
  await initialised(async (dir, data) => {
    const req = await run("openssl", [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${dir}/bot-key.pem`,
      "-out",
      `${dir}/bot.csr`,
      "-subj",
      "/CN=bot",
    ]);
    assertEquals(req.code, 0, req.stderr);
    const issued = await openchat(
      ["ca", "issue", "bot", "--csr", `${dir}/bot.csr`, "--device", "ci", "--data-dir", data],
      { cwd: dir },
    );
    assertEquals(issued.code, 0, issued.stderr);
    assertStringIncludes(issued.stdout, "Issued a certificate to bot/ci");
    assertStringIncludes(issued.stdout, `Wrote ${dir}/bot.crt: the certificate, then the CA`);
    assertEquals(issued.stderr.includes("has held"), false);
    // The certificate's key is the request's key.
    const fromCert = await run("openssl", ["x509", "-in", `${dir}/bot.crt`, "-noout", "-pubkey"]);
    const fromReq = await run("openssl", ["req", "-in", `${dir}/bot.csr`, "-noout", "-pubkey"]);
    assertEquals(fromCert.stdout, fromReq.stdout);
    const text = await run("openssl", ["x509", "-in", `${dir}/bot.crt`, "-noout", "-text"]);
    assertStringIncludes(text.stdout, "URI:openchat:bot/ci");
    const verified = await run("openssl", [
      "verify",
      "-CAfile",
      `${data}/ca.pem`,
      `${dir}/bot.crt`,
    ]);
    assertEquals(verified.code, 0, verified.stderr);
    // `cat bot.crt bot-key.pem` is an identity file.
    const identity = parseIdentityFile(
      (await Deno.readTextFile(`${dir}/bot.crt`)) + (await Deno.readTextFile(`${dir}/bot-key.pem`)),
    );
    assert(
      await privateKeyMatches(
        parseCertificate(identity.certificate),
        await importIdentityPrivateKey(identity.privateKey),
      ),
    );
    // DER requests work too; a request naming someone else, or garbage, is refused.
    await run("openssl", [
      "req",
      "-in",
      `${dir}/bot.csr`,
      "-outform",
      "DER",
      "-out",
      `${dir}/bot.der`,
    ]);
    const der = await openchat(
      [
        "ca",
        "issue",
        "bot",
        "--csr",
        `${dir}/bot.der`,
        "--out",
        `${dir}/b2.crt`,
        "--data-dir",
        data,
      ],
      { cwd: dir },
    );
    assertEquals(der.code, 0, der.stderr);
    const before = await snapshot(data);
    const wrongName = await openchat(
      ["ca", "issue", "carol", "--csr", `${dir}/bot.csr`, "--data-dir", data],
      { cwd: dir },
    );
    assertEquals(wrongName.code, 1);
    assertStringIncludes(wrongName.stderr, 'The request names "bot", not carol');
    await Deno.writeTextFile(`${dir}/junk.csr`, "not a request");
    const junk = await openchat(
      ["ca", "issue", "carol", "--csr", `${dir}/junk.csr`, "--data-dir", data],
      { cwd: dir },
    );
    assertEquals(junk.code, 1);
    assertStringIncludes(junk.stderr, "not a PKCS#10 certificate signing request");
    assertEquals(await snapshot(data), before);
    // Without --csr the operator is told they have held the key.
    const held = await openchat(["ca", "issue", "bot2", "--data-dir", data], { cwd: dir });
    assertStringIncludes(held.stderr, "the CA operator has held it");
  });
});

Deno.test("ca invite: refuses without a recorded or given address, checks --ttl at and past its edges, and devices revoke one by one", async () => {
  await initialised(async (dir, data) => {
    const before = await snapshot(data);
    const none = await openchat(["ca", "invite", "alice", "--data-dir", data]);
    assertEquals(none.code, 1);
    assertStringIncludes(none.stderr, "No server address is recorded");
    assertStringIncludes(none.stderr, "pass --server HOST:PORT");
    assertEquals(none.stdout, "");
    const cases: [string[], number, string][] = [
      [["--ttl", "0m"], 2, "a duration is a positive whole number and a unit"],
      [["--ttl", "soon"], 2, "a duration is a positive whole number"],
      [["--ttl", "59s"], 2, "An invite lives from 1 minute to 7 days"],
      [["--ttl", "8d"], 2, "An invite lives from 1 minute to 7 days"],
      [["--ttl", "169h"], 2, "An invite lives from 1 minute to 7 days"],
      [["--server", "nohost"], 2, "is not HOST:PORT"],
      [["--device", "Phone"], 2, 'Invalid device label "Phone"'],
    ];
    for (const [args, code, message] of cases) {
      const result = await openchat([
        "ca",
        "invite",
        "alice",
        "--server",
        "chat.example.org:7443",
        ...args,
        "--data-dir",
        data,
      ]);
      assertEquals(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assertStringIncludes(result.stderr, message);
    }
    assertEquals(await snapshot(data), before);
    for (const ttl of ["1m", "7d", "168h"]) {
      const ok = await openchat([
        "ca",
        "invite",
        "alice",
        "--ttl",
        ttl,
        "--server",
        "chat.example.org:7443",
        "--server",
        "[::1]:7443",
        "--data-dir",
        data,
      ]);
      assertEquals(ok.code, 0, `${ttl}: ${ok.stderr}`);
    }
    const listed = JSON.parse(
      (await openchat(["ca", "list", "--invites", "--json", "--data-dir", data])).stdout,
    );
    assertEquals(listed.length, 3);

    for (const device of ["laptop", "phone"]) {
      const issued = await openchat(
        [
          "ca",
          "issue",
          "alice",
          "--device",
          device,
          "--out",
          `${dir}/${device}.pem`,
          "--data-dir",
          data,
        ],
        { cwd: dir },
      );
      assertEquals(issued.code, 0, issued.stderr);
    }
    const one = await openchat(["ca", "revoke", "alice/phone", "--data-dir", data]);
    assertEquals(one.code, 0, one.stderr);
    assertStringIncludes(one.stdout, "Revoked alice/phone");
    assertEquals(one.stdout.includes("alice/laptop"), false);
    const rest = await openchat(["ca", "revoke", "alice", "--data-dir", data]);
    assertStringIncludes(rest.stdout, "Revoked alice/laptop");
    const unknown = await openchat(["ca", "revoke", "alice/tablet", "--data-dir", data]);
    assertEquals(unknown.code, 1);
    assertStringIncludes(
      unknown.stderr,
      'No certificate was issued to a user, device or serial "alice/tablet"',
    );
  });
});
