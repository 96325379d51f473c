/**
 * Invites and enrolment, end to end with real processes: `openchat serve`, `openchat ca invite`
 * and `openchat enroll` as children, openssl as the outside judge. The device's key is made on
 * the device and appears nowhere in the server's data directory; every refusal says why, exits
 * with its code and writes nothing.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat, snapshot } from "./support/cli.ts";
import { enroll, invite } from "./support/enrolment.ts";
import { JoinProcess } from "./support/join_process.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { requireTool, run } from "./support/tools.ts";
import { parseEndpoint, ServerLink, SetupError } from "../client/connection.ts";
import { createCertificateRequest } from "../crypto/csr.ts";
import { generateIdentityKeyPair } from "../crypto/keys.ts";
import { decodePemBlocks } from "../crypto/pem.ts";
import { parseCertificate } from "../crypto/x509.ts";
import { decodeInviteToken, encodeInviteToken } from "../protocol/invite_token.ts";
import { parseIdentityFile } from "../protocol/identity_file.ts";
import { CertificateAuthority } from "../server/authority.ts";
import { enroll as enrollDevice, EnrolmentError } from "../client/enrolment.ts";
import { withServer } from "./support/healthy_pair.ts";
import { Relay } from "./support/relay.ts";

async function withServe(
  fn: (dir: string, data: string, port: number) => Promise<void>,
): Promise<void> {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const serve = await startServeProcess(data);
    try {
      await fn(dir, data, serve.port);
    } finally {
      await serve.stop();
    }
  });
}

/** Every file below `dir`, as bytes. */
async function allFiles(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const [name, value] of Object.entries(await snapshot(dir))) {
    files.set(name, Uint8Array.fromBase64(value.slice(value.indexOf(":") + 1)));
  }
  return files;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("ca invite then enroll: the key is made on the device, never reaches the server, and the identity works for a bare join", async () => {
  await requireTool("openssl", ["version"]);
  await withServe(async (dir, data, port) => {
    const made = await invite(data, "alice", ["--device", "laptop"]);
    // Standard output is the token alone; the instructions are on standard error.
    assertEquals(made.result.stdout, made.token + "\n");
    assertMatch(made.token, /^oc1\.[A-Za-z0-9_-]+$/);
    assertStringIncludes(made.result.stderr, `for alice/laptop: it works once, until`);
    assertStringIncludes(made.result.stderr, `openchat enroll ${made.token}`);
    assertStringIncludes(
      made.result.stderr,
      `Using the address the server last listened on (127.0.0.1:${port}`,
    );
    const decoded = decodeInviteToken(made.token);
    assertEquals([decoded.user, decoded.device, decoded.addresses], [
      "alice",
      "laptop",
      [`127.0.0.1:${port}`],
    ]);
    const pending = await openchat(["ca", "list", "--invites", "--data-dir", data]);
    assertMatch(pending.stdout, new RegExp(`\\n${made.id}\\s+alice/laptop\\s+\\S+\\s+operator`));

    const config = `${dir}/alice-config`;
    const result = await enroll(made.token, config);
    assertEquals(result.code, 0, result.stderr);
    assertStringIncludes(result.stdout, `Enrolled alice/laptop on 127.0.0.1:${port}.`);
    assertStringIncludes(result.stdout, "Your key fingerprint (SHA-256 of the public key");
    assertStringIncludes(result.stdout, "Next: openchat join");
    const path = `${config}/identity.pem`;
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals(JSON.parse(await Deno.readTextFile(`${config}/client.json`)), {
      server: `127.0.0.1:${port}`,
      // Every address the invite names, for failover (one here).
      servers: [`127.0.0.1:${port}`],
      identity: path,
    });

    // The private key, in every form it could take, is in no file of the server's.
    const text = await Deno.readTextFile(path);
    const parts = parseIdentityFile(text);
    const key = await crypto.subtle.importKey(
      "pkcs8",
      parts.privateKey,
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["sign"],
    );
    const d = Uint8Array.fromBase64(
      (await crypto.subtle.exportKey("jwk", key)).d!,
      { alphabet: "base64url" },
    );
    const pemBody = decodePemBlocks(text).find((b) => b.label === "PRIVATE KEY")!.der.toBase64();
    const needles = [d, parts.privateKey, new TextEncoder().encode(pemBody.slice(0, 64))];
    const serverFiles = await allFiles(data);
    assert(serverFiles.size >= 5, `only ${[...serverFiles.keys()]}`);
    for (const [name, bytes] of serverFiles) {
      for (const needle of needles) {
        assert(!contains(bytes, needle), `the device's private key is in ${name}`);
      }
    }
    assertEquals(result.stdout.includes(pemBody.slice(0, 40)), false);

    // openssl agrees: the chain verifies, and the certificate names the user and the device.
    const verified = await run("openssl", ["verify", "-CAfile", `${data}/ca.pem`, path]);
    assertEquals(verified.code, 0, verified.stderr);
    const shown = await run("openssl", ["x509", "-in", path, "-noout", "-text"]);
    assertMatch(shown.stdout, /Subject: CN ?= ?alice/);
    assertStringIncludes(shown.stdout, "URI:openchat:alice/laptop");
    assertStringIncludes(shown.stdout, "TLS Web Client Authentication");
    const cert = parseCertificate(parts.certificate);
    const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
    assert(days > 29.9 && days <= 30, `lifetime ${days} days`);

    // The invite is used; ca list shows the device.
    const list = await openchat(["ca", "list", "--data-dir", data]);
    assertMatch(list.stdout, /\nalice\s+laptop\s+[0-9a-f]+\s+valid/);
    const after = await openchat(["ca", "list", "--invites", "--data-dir", data]);
    assertStringIncludes(after.stdout, "No pending invites");

    // A bare `openchat join` uses the remembered server and identity.
    const alice = JoinProcess.startWith(["--config-dir", config]);
    try {
      await alice.next("ready", () => true, 20_000);
      await alice.say("hello from an enrolled device");
    } finally {
      await alice.close();
    }
  });
});

Deno.test("enroll refusals: malformed, used twice, cancelled, expired, another CA, unreachable, existing identity: each says why, exits 1 or 2, writes nothing", async () => {
  await withServe(async (dir, data, port) => {
    const refused = async (
      token: string,
      code: number,
      message: string,
      config = `${dir}/refused-config`,
      args: string[] = [],
    ) => {
      const before = await snapshot(config);
      const result = await enroll(token, config, args);
      assertEquals(result.code, code, `${message}: ${result.stderr}`);
      assertStringIncludes(result.stderr, message);
      assertEquals(await snapshot(config), before, `${message}: something was written`);
      return result;
    };

    // Malformed tokens never reach the network: exit 2.
    for (
      const [token, message] of [
        ["hello", 'An invite starts with "oc1."'],
        ["oc1.", "cut short"],
        ["oc1.AAAA", "another version"],
        ["oc1.***", "not base64url"],
        ["", 'An invite starts with "oc1."'],
      ]
    ) {
      await refused(token!, 2, `This invite cannot be used: `);
      await refused(token!, 2, message!);
    }
    const valid = await invite(data, "bob");
    const damaged = valid.token.slice(0, -3);
    await refused(damaged, 2, "This invite cannot be used");

    // Used twice: the second device is refused.
    const first = await enroll(valid.token, `${dir}/bob-1`);
    assertEquals(first.code, 0, first.stderr);
    await refused(valid.token, 1, "This invite was used", `${dir}/bob-2`);
    await refused(valid.token, 1, "(invalid_invite)", `${dir}/bob-2`);

    // Cancelled.
    const cancelled = await invite(data, "carol");
    const cancel = await openchat(["ca", "cancel-invite", cancelled.id, "--data-dir", data]);
    assertEquals(cancel.code, 0, cancel.stderr);
    assertStringIncludes(cancel.stdout, `Cancelled the invite ${cancelled.id} for carol/main`);
    await refused(cancelled.token, 1, "This invite was cancelled");
    const again = await openchat(["ca", "cancel-invite", cancelled.id, "--data-dir", data]);
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "is no longer pending");

    // Expired: made two days ago for one day.
    const ca = await CertificateAuthority.load(data);
    const old = await ca.createInvite({
      name: "dave",
      now: new Date(Date.now() - 2 * 86_400_000),
    });
    const expiredToken = encodeInviteToken({
      addresses: [`127.0.0.1:${port}`],
      caFingerprint: ca.fingerprintBytes,
      user: "dave",
      device: "main",
      secret: old.secret,
      expiresAt: Date.parse(old.record.expiresAt),
    });
    ca.close();
    await refused(expiredToken, 1, "This invite was expired");

    // A server whose CA is not the one in the invite: stops before sending the secret.
    const genuine = await invite(data, "erin");
    const token = decodeInviteToken(genuine.token);
    const forged = encodeInviteToken({ ...token, caFingerprint: new Uint8Array(32).fill(7) });
    await refused(forged, 1, "The server's CA does not match the invite");
    const still = await openchat(["ca", "list", "--invites", "--data-dir", data]);
    assertStringIncludes(still.stdout, genuine.id);

    // Nobody listening.
    const nowhere = encodeInviteToken({ ...token, addresses: ["127.0.0.1:1"] });
    await refused(nowhere, 1, "Cannot enrol with 127.0.0.1:1");

    // An existing identity is never overwritten without --force; with it, it is.
    const existing = `${dir}/bob-1`;
    await refused(genuine.token, 1, "already exists (this device is enrolled)", existing);
    const forced = await enroll(genuine.token, `${dir}/erin`, [
      "--out",
      `${existing}/identity.pem`,
    ]);
    assertEquals(forced.code, 1);
    const replaced = await enroll(genuine.token, existing, ["--force"]);
    assertEquals(replaced.code, 0, replaced.stderr);
    assertStringIncludes(replaced.stdout, "Enrolled erin/main");
  });
});

Deno.test("enroll: a token for alice used with a request for bob, or a request whose signature fails, is refused and the invite stays usable", async () => {
  await withServe(async (dir, data, port) => {
    const made = await invite(data, "alice", ["--device", "phone"]);
    const token = decodeInviteToken(made.token);
    const endpoint = parseEndpoint(`127.0.0.1:${port}`);
    const caDer = await ServerLink.fetchCa(endpoint);
    const ca = { cert: parseCertificate(caDer), pem: await Deno.readTextFile(`${data}/ca.pem`) };
    const keys = await generateIdentityKeyPair();

    const forBob = await createCertificateRequest(keys, "bob");
    const wrongName = await ServerLink.enroll(endpoint, ca, token.secret, forBob).then(
      () => undefined,
      (error) => error,
    );
    assert(wrongName instanceof SetupError);
    assertEquals([wrongName.code, wrongName.fromServer], ["bad_request", true]);
    assertStringIncludes(wrongName.message, 'The request names "bob", but the invite is for alice');

    const forAlice = await createCertificateRequest(keys, "alice");
    const tampered = forAlice.slice();
    tampered[tampered.length - 5]! ^= 0x01;
    const badSignature = await ServerLink.enroll(endpoint, ca, token.secret, tampered).then(
      () => undefined,
      (error) => error,
    );
    assert(badSignature instanceof SetupError);
    assertEquals(badSignature.code, "bad_request");

    // Neither consumed the invite.
    const result = await enroll(made.token, `${dir}/alice`);
    assertEquals(result.code, 0, result.stderr);
    assertStringIncludes(result.stdout, "Enrolled alice/phone");
  });
});

Deno.test("enroll: a relay that terminates TLS with another certificate (even one from the same CA) gets no secret", async () => {
  await withServer({}, async (fx) => {
    const relay = await Relay.start(fx.ca.issuer, fx.caPem, fx.port);
    try {
      const { secret, record } = await fx.ca.createInvite({ name: "alice", device: "laptop" });
      const token = decodeInviteToken(encodeInviteToken({
        addresses: [`127.0.0.1:${relay.port}`],
        caFingerprint: fx.ca.fingerprintBytes,
        user: "alice",
        device: "laptop",
        secret,
        expiresAt: Date.parse(record.expiresAt),
      }));
      const error = await enrollDevice(token).then(() => undefined, (e) => e);
      assert(error instanceof EnrolmentError, String(error));
      assertEquals(error.code, "server_certificate");
      assertStringIncludes(error.message, "not the one it proved holding");
      assertEquals(relay.frames.filter((f) => f.message.type === "enroll"), []);
      assertEquals(fx.ca.store.pendingInvites(new Date(), "alice").length, 1);
    } finally {
      relay.close();
    }
  });
});
