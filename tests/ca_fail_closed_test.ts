/**
 * The CA fails closed: the server admits only certificates its database records; a CA key
 * whose database is missing or belongs to another CA refuses to start and says how to recover;
 * a database from before it recorded its CA is adopted once; an encrypted CA key needs its
 * passphrase, and openssl reads it with that passphrase.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat, snapshot } from "./support/cli.ts";
import { withServer } from "./support/healthy_pair.ts";
import { RawClient } from "./support/raw_client.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { requireTool, run } from "./support/tools.ts";
import { DatabaseSync } from "node:sqlite";
import { CertificateAuthority, MIN_PASSPHRASE_CHARS } from "../server/authority.ts";

Deno.test("the server refuses a certificate signed by its own CA key but missing from its database", async () => {
  await withServer({}, async (fx) => {
    const minted = await fx.issue("mallory", { record: false });
    const client = await RawClient.connect(fx.port, fx.caPem);
    await client.hello(fx.caPem);
    await client.sendAuth(minted);
    const error = await client.expectRefusal("unknown_certificate");
    assertStringIncludes(error.message, "not recorded");
    // The same name with a recorded certificate gets in.
    const recorded = await RawClient.connect(fx.port, fx.caPem);
    assertEquals(
      (await recorded.authenticate(fx.caPem, await fx.issue("mallory"))).user,
      "mallory",
    );
    recorded.close();
  });
});

Deno.test("serve and ca refuse a CA whose database is missing or another CA's, say how to recover, and recreate nothing", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    assertEquals((await openchat(["ca", "init", "--data-dir", data])).code, 0);
    const other = `${dir}/other`;
    assertEquals((await openchat(["ca", "init", "--data-dir", other])).code, 0);
    const saved = await Deno.readFile(`${data}/openchat.db`);

    for (const suffix of ["", "-wal", "-shm"]) {
      await Deno.remove(`${data}/openchat.db${suffix}`).catch(() => {});
    }
    const missing = await snapshot(data);
    for (const args of [["serve", "--port", "0"], ["ca", "list"], ["ca", "invite", "alice"]]) {
      const result = await openchat([...args, "--data-dir", data]);
      assertEquals(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
      assertStringIncludes(result.stderr, `The CA database ${data}/openchat.db is missing`);
      assertStringIncludes(result.stderr, "openchat never recreates it");
      assertStringIncludes(result.stderr, "Restore openchat.db from a backup");
      assertEquals(await snapshot(data), missing, `${args.join(" ")} wrote something`);
    }

    await Deno.copyFile(`${other}/openchat.db`, `${data}/openchat.db`);
    const foreign = await snapshot(data);
    const result = await openchat(["serve", "--port", "0", "--data-dir", data]);
    assertEquals(result.code, 1);
    assertStringIncludes(result.stderr, "belongs to another CA");
    assertEquals(await snapshot(data), foreign);

    // Restored from the backup, it starts again.
    await Deno.writeFile(`${data}/openchat.db`, saved);
    const serve = await startServeProcess(data);
    await serve.stop();
  });
});

Deno.test("a database from before it recorded its CA (schema 1) is adopted once, keeping its records", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const ca = await CertificateAuthority.create(data);
    ca.close();
    for (const suffix of ["", "-wal", "-shm"]) {
      await Deno.remove(`${data}/openchat.db${suffix}`).catch(() => {});
    }
    const db = new DatabaseSync(`${data}/openchat.db`);
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE certificates (serial TEXT PRIMARY KEY, name TEXT NOT NULL,
        fingerprint TEXT NOT NULL, key_fingerprint TEXT NOT NULL, not_before TEXT NOT NULL,
        not_after TEXT NOT NULL, issued_at TEXT NOT NULL, revoked_at TEXT, revoke_reason TEXT,
        cert_pem TEXT NOT NULL);
      INSERT INTO meta VALUES ('schema', '1');
      INSERT INTO certificates VALUES ('0a', 'olduser', 'AA', 'BB', '2026-01-01T00:00:00.000Z',
        '2026-04-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z',
        'lost', 'pem');
    `);
    db.close();
    const adopted = await CertificateAuthority.load(data);
    assert(adopted.adoptedDatabase);
    assertEquals(adopted.store.caFingerprint(), adopted.fingerprint);
    const [old] = adopted.store.list();
    assertEquals([old?.name, old?.device, old?.revokeReason], ["olduser", "main", "lost"]);
    adopted.close();
    const again = await CertificateAuthority.load(data);
    assert(!again.adoptedDatabase);
    again.close();
  });
});

Deno.test("ca init --encrypt: openssl reads the key with the passphrase; serve and ca issue need it, a wrong one is refused", async () => {
  await requireTool("openssl", ["version"]);
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const passphrase = "correct horse battery";
    const env = (value: string) => ({ OPENCHAT_CA_PASSPHRASE: value });

    const short = await openchat(["ca", "init", "--encrypt", "--data-dir", data], {
      env: env("x".repeat(MIN_PASSPHRASE_CHARS - 1)),
    });
    assertEquals(short.code, 2);
    assertStringIncludes(short.stderr, `at least ${MIN_PASSPHRASE_CHARS} characters`);
    assertEquals(await snapshot(data), {});

    const init = await openchat(["ca", "init", "--encrypt", "--data-dir", data], {
      env: env(passphrase),
    });
    assertEquals(init.code, 0, init.stderr);
    const keyPem = await Deno.readTextFile(`${data}/ca-key.pem`);
    assertStringIncludes(keyPem, "-----BEGIN ENCRYPTED PRIVATE KEY-----");
    assertEquals((await Deno.stat(`${data}/ca-key.pem`)).mode! & 0o777, 0o600);
    const read = await run("openssl", [
      "pkey",
      "-in",
      `${data}/ca-key.pem`,
      "-passin",
      `pass:${passphrase}`,
      "-pubout",
    ]);
    assertEquals(read.code, 0, read.stderr);
    const caPub = await run("openssl", ["x509", "-in", `${data}/ca.pem`, "-noout", "-pubkey"]);
    assertEquals(read.stdout, caPub.stdout);
    const wrongForOpenssl = await run("openssl", [
      "pkey",
      "-in",
      `${data}/ca-key.pem`,
      "-passin",
      "pass:wrong passphrase",
    ]);
    assert(wrongForOpenssl.code !== 0);
    const parsed = await run("openssl", ["asn1parse", "-in", `${data}/ca-key.pem`]);
    for (const part of ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"]) {
      assertStringIncludes(parsed.stdout, part);
    }

    const before = await snapshot(data);
    const wrong = await openchat(["serve", "--port", "0", "--data-dir", data], {
      env: env("not the passphrase"),
    });
    assertEquals(wrong.code, 1);
    assertStringIncludes(wrong.stderr, `The passphrase does not unlock ${data}/ca-key.pem`);
    const none = await openchat(["ca", "issue", "bot", "--data-dir", data], { cwd: dir });
    assertEquals(none.code, 1);
    assertStringIncludes(none.stderr, "is encrypted: set OPENCHAT_CA_PASSPHRASE");
    assertEquals(await snapshot(data), before);

    // Records need no key: listing and inviting work without the passphrase.
    const listed = await openchat(["ca", "list", "--data-dir", data]);
    assertEquals(listed.code, 0, listed.stderr);
    const issued = await openchat(["ca", "issue", "bot", "--data-dir", data], {
      cwd: dir,
      env: env(passphrase),
    });
    assertEquals(issued.code, 0, issued.stderr);

    // With the passphrase, the server starts (children inherit this process's environment).
    Deno.env.set("OPENCHAT_CA_PASSPHRASE", passphrase);
    try {
      const serve = await startServeProcess(data);
      await serve.stop();
    } finally {
      Deno.env.delete("OPENCHAT_CA_PASSPHRASE");
    }
  });
});
