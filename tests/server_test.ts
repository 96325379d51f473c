/**
 * The server over real TLS on 127.0.0.1, driven by a test client written against protocol/:
 * the happy path, then every refusal of set-up and every kind of bad input, each answered with
 * its reason while a second, healthy pair of sessions keeps chatting.
 */

import { healthyPair, withServer } from "./support/healthy_pair.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { type AuthOptions, joinedClient, RawClient } from "./support/raw_client.ts";
import {
  foreignIdentity,
  serverCertificateIdentity,
  type ServerFixture,
  type TestIdentity,
} from "./support/server_fixture.ts";
import { randomBytes, utf8 } from "../crypto/bytes.ts";
import { MAX_FRAME_BYTES } from "../protocol/framing.ts";
import { openchat } from "./support/cli.ts";
import { requireTool, run } from "./support/tools.ts";

const DAY = 86_400_000;

Deno.test("two users authenticate, join, relay payloads, and get acknowledgements", async () => {
  await withServer({}, async (fx) => {
    const aliceId = await fx.issue("alice");
    const alice = await RawClient.connect(fx.port, fx.caPem);
    const welcome = await alice.authenticate(fx.caPem, aliceId);
    assertEquals(welcome.user, "alice");
    assertEquals(welcome.device, "main");
    assertMatch(welcome.session, /^[A-Za-z0-9_-]{22}$/);
    assertEquals(welcome.limits.maxFrameBytes, MAX_FRAME_BYTES);
    await alice.send({ type: "announce", payload: "alice-keys" });
    await alice.send({ type: "join", room: "lobby" });
    assertEquals((await alice.next("joined")).members, []);

    const bob = await RawClient.connect(fx.port, fx.caPem);
    const bobWelcome = await bob.authenticate(fx.caPem, await fx.issue("bob"));
    await bob.send({ type: "announce", payload: "bob-keys" });
    await bob.send({ type: "join", room: "lobby" });
    const joined = await bob.next("joined");
    assertEquals(joined.members, [{
      user: "alice",
      device: "main",
      session: welcome.session,
      announce: "alice-keys",
    }]);
    const presence = await alice.next("presence");
    assertEquals(presence, {
      type: "presence",
      room: "lobby",
      event: "join",
      user: "bob",
      device: "main",
      session: bobWelcome.session,
      version: 2,
      announce: "bob-keys",
    });

    // A room message: relayed to bob stamped with alice's identity, acknowledged to alice.
    await alice.send({ type: "msg", id: "m1", room: "lobby", payload: "opaque-ciphertext-1" });
    const relayed = await bob.next("msg");
    assertEquals(relayed.from, "alice");
    assertEquals(relayed.session, welcome.session);
    assertEquals(relayed.payload, "opaque-ciphertext-1");
    assert(Math.abs(relayed.ts - Date.now()) < 60_000);
    assertEquals(await alice.next("ack"), { type: "ack", id: "m1", recipients: 1 });

    // Key packages reach only the member they are addressed to.
    await alice.send({
      type: "keys",
      room: "lobby",
      items: [{ to: bobWelcome.session, payload: "wrapped-for-bob" }],
    });
    assertEquals(await bob.next("keys"), {
      type: "keys",
      room: "lobby",
      from: "alice",
      device: "main",
      session: welcome.session,
      payload: "wrapped-for-bob",
    });
    // Without a room, key packages (direct-message chains) reach the named session, any room.
    await alice.send({ type: "keys", items: [{ to: bobWelcome.session, payload: "direct" }] });
    assertEquals(await bob.next("keys"), {
      type: "keys",
      from: "alice",
      device: "main",
      session: welcome.session,
      payload: "direct",
    });
    // A replaced agreement key is kept, told to those who share a room, and described to newcomers.
    await alice.send({ type: "agreement", payload: "1.new-key.sig" });
    assertEquals(await bob.next("agreement"), {
      type: "agreement",
      user: "alice",
      device: "main",
      session: welcome.session,
      payload: "1.new-key.sig",
    });

    // Direct message to the session bob is in now; a stale session id is refused.
    await bob.send({
      type: "dm",
      id: "d1",
      to: "alice",
      session: welcome.session,
      payload: "dm-ciphertext",
    });
    const dm = await alice.next("dm");
    assertEquals([dm.from, dm.payload], ["bob", "dm-ciphertext"]);
    assertEquals((await bob.next("ack", (m) => m.id === "d1")).recipients, 1);
    await bob.send({ type: "dm", id: "d2", to: "alice", session: "A".repeat(22), payload: "x" });
    const stale = await bob.next("error", (m) => m.id === "d2");
    assertEquals([stale.code, stale.fatal], ["stale_session", false]);
    await bob.send({ type: "dm", id: "d3", to: "nobody", session: "A".repeat(22), payload: "x" });
    assertEquals((await bob.next("error", (m) => m.id === "d3")).code, "no_such_user");

    // Lookup, who, rooms.
    await bob.send({ type: "lookup", id: "l1", user: "alice" });
    assertEquals(await bob.next("peer"), {
      type: "peer",
      id: "l1",
      user: "alice",
      sessions: [{
        device: "main",
        session: welcome.session,
        announce: "alice-keys",
        agreement: "1.new-key.sig",
      }],
    });
    await bob.send({ type: "who", room: "lobby" });
    assertEquals((await bob.next("who")).members, ["alice", "bob"]);
    await bob.send({ type: "rooms" });
    assertEquals((await bob.next("rooms")).rooms, [{ name: "lobby", members: 2 }]);

    // A re-announcement reaches those who share a room.
    await alice.send({ type: "announce", payload: "alice-keys-2" });
    assertEquals((await bob.next("announce")).announce, "alice-keys-2");

    // Leaving: bob is told, alice sees him go; messages now reach nobody.
    await bob.send({ type: "leave", room: "lobby" });
    assertEquals((await bob.next("left")).room, "lobby");
    const left = await alice.next("presence", (m) => m.event === "leave");
    assertEquals([left.user, left.session, left.reason], ["bob", bobWelcome.session, "left"]);
    await alice.send({ type: "msg", id: "m2", room: "lobby", payload: "to-nobody" });
    assertEquals((await alice.next("ack", (m) => m.id === "m2")).recipients, 0);
    await bob.send({ type: "msg", id: "m3", room: "lobby", payload: "not-a-member" });
    const notIn = await bob.next("error", (m) => m.id === "m3");
    assertEquals([notIn.code, notIn.fatal], ["not_in_room", false]);
    alice.close();
    bob.close();
  });
});

Deno.test("a message sealed for an older membership is refused; the current version is relayed", async () => {
  await withServer({}, async (fx) => {
    const alice = await RawClient.connect(fx.port, fx.caPem);
    await alice.authenticate(fx.caPem, await fx.issue("alice"));
    await alice.send({ type: "announce", payload: "a" });
    await alice.send({ type: "join", room: "lobby" });
    const joined = await alice.next("joined");
    assertEquals(joined.version, 1);
    const bob = await joinedClient(fx.port, fx.caPem, await fx.issue("bob"));
    const presence = await alice.next("presence");
    assertEquals(presence.version, 2);
    // Alice has not caught up with bob's join: her message was sealed for version 1.
    await alice.send({
      type: "msg",
      id: "old",
      room: "lobby",
      payload: "sealed-for-alice-only",
      version: 1,
    });
    const refused = await alice.next("error", (m) => m.id === "old");
    assertEquals([refused.code, refused.fatal, refused.room], [
      "membership_changed",
      false,
      "lobby",
    ]);
    await alice.send({
      type: "msg",
      id: "new",
      room: "lobby",
      payload: "sealed-for-both",
      version: 2,
    });
    assertEquals((await alice.next("ack", (m) => m.id === "new")).recipients, 1);
    assertEquals((await bob.next("msg")).payload, "sealed-for-both");
    assert(!bob.received.some((m) => m.type === "msg" && m.payload === "sealed-for-alice-only"));
    // Leaving changes the version too.
    bob.close();
    const left = await alice.next("presence", (m) => m.event === "leave");
    assertEquals(left.version, 3);
    alice.close();
  });
});

Deno.test("join before announcing is refused, without closing the session", async () => {
  await withServer({}, async (fx) => {
    const client = await RawClient.connect(fx.port, fx.caPem);
    await client.authenticate(fx.caPem, await fx.issue("alice"));
    await client.send({ type: "join", room: "lobby" });
    const error = await client.next("error");
    assertEquals([error.code, error.fatal], ["announce_required", false]);
    await client.send({ type: "announce", payload: "k" });
    await client.send({ type: "join", room: "lobby" });
    await client.next("joined");
    client.close();
  });
});

/** Runs set-up as `identity` without waiting for a welcome that should not come. */
async function proveAs(
  fx: ServerFixture,
  client: RawClient,
  identity: TestIdentity,
  options: AuthOptions = {},
) {
  await client.hello(fx.caPem);
  await client.sendAuth(identity, options);
}

interface RefusalCase {
  what: string;
  code: string;
  act: (fx: ServerFixture, client: RawClient) => Promise<void>;
  message?: string;
}

const refusals: RefusalCase[] = [
  {
    what: "a certificate from another CA",
    code: "wrong_ca",
    message: "Certificate was not issued by this CA",
    act: async (fx, c) => await proveAs(fx, c, await foreignIdentity("mallory")),
  },
  {
    what: "an expired certificate",
    code: "expired",
    message: "Certificate expired on",
    act: async (fx, c) => {
      const id = await fx.issue("carol", { days: 1, now: new Date(Date.now() - 3 * DAY) });
      await proveAs(fx, c, id);
    },
  },
  {
    what: "a certificate not yet valid",
    code: "not_yet_valid",
    message: "Certificate is not valid before",
    act: async (fx, c) => {
      const id = await fx.issue("carol", { days: 30, now: new Date(Date.now() + 3 * DAY) });
      await proveAs(fx, c, id);
    },
  },
  {
    what: "a revoked certificate",
    code: "revoked",
    act: async (fx, c) => {
      const id = await fx.issue("dave");
      await fx.ca.revoke("dave", "test");
      await proveAs(fx, c, id);
    },
  },
  {
    what: "a server certificate used as a client (wrong EKU)",
    code: "wrong_usage",
    message: "Certificate is not issued for client authentication",
    act: async (fx, c) => await proveAs(fx, c, await serverCertificateIdentity(fx)),
  },
  {
    what: "a bad signature",
    code: "bad_signature",
    act: async (fx, c) =>
      await proveAs(fx, c, await fx.issue("erin"), { signature: randomBytes(64) }),
  },
  {
    what: "a signature by another user's key",
    code: "bad_signature",
    act: async (fx, c) => {
      const erin = await fx.issue("erin");
      const frank = await fx.issue("frank");
      await c.hello(fx.caPem);
      await c.sendAuth({ ...erin, privateKey: frank.privateKey });
    },
  },
  {
    what: "a signature over another session's nonces",
    code: "bad_signature",
    act: async (fx, c) => {
      const erin = await fx.issue("erin");
      const other = await RawClient.connect(fx.port, fx.caPem);
      await other.hello(fx.caPem);
      await c.hello(fx.caPem);
      const otherProof = await other.proof();
      await c.sendAuth(erin, { signOver: () => otherProof });
      other.close();
    },
  },
  {
    what: "garbage before the hello",
    code: "frame_too_large",
    act: (_fx, c) => c.sendRaw(utf8("GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
  },
  {
    what: "a frame that is not JSON",
    code: "bad_frame",
    act: (_fx, c) => c.sendBody(utf8("{not json")),
  },
  {
    what: "an unknown type during set-up",
    code: "unknown_type",
    act: (_fx, c) => c.send({ type: "teleport" }),
  },
  {
    what: "auth before hello",
    code: "unexpected",
    message: 'Expected a "hello" frame during set-up, received "auth"',
    act: (_fx, c) => c.send({ type: "auth", cert: "AAAA", signature: "AAAA" }),
  },
  {
    what: "another protocol version",
    code: "unsupported_version",
    message: "This server speaks protocol version 2, not 3",
    act: (_fx, c) => c.send({ type: "hello", version: 3, nonce: "A".repeat(43) }),
  },
  {
    what: "a hello with a malformed nonce",
    code: "bad_field",
    message: 'Field "nonce" must be 32 bytes of unpadded base64url',
    act: (_fx, c) => c.send({ type: "hello", version: 1, nonce: "short" }),
  },
  {
    what: "a certificate that is not DER",
    code: "bad_certificate",
    act: async (fx, c) => {
      await c.hello(fx.caPem);
      await c.send({ type: "auth", cert: "AAAAAAAA", signature: "AAAA" });
    },
  },
];

Deno.test("set-up refusals each get their reason and a close, and never disturb a healthy pair", async () => {
  await withServer({}, async (fx) => {
    const pair = await healthyPair(fx);
    for (const refusal of refusals) {
      const client = await RawClient.connect(fx.port, fx.caPem);
      await refusal.act(fx, client);
      const error = await client.expectRefusal(refusal.code).catch((e) => {
        throw new Error(`${refusal.what}: ${e.message}`);
      });
      if (refusal.message) assertStringIncludes(error.message, refusal.message, refusal.what);
      assert(
        fx.logs.some((l) => l.event === "refused" && l.fields.code === refusal.code),
        `${refusal.what}: no log line`,
      );
      await pair.stillWorking(refusal.what);
    }
    assertEquals(fx.server.stats().sessions, 2);
    pair.close();
  });
});

Deno.test("after set-up: unknown types, bad fields, set-up frames and oversized frames close only that session", async () => {
  await withServer({}, async (fx) => {
    const pair = await healthyPair(fx);
    const cases: [string, (c: RawClient) => Promise<void>, string][] = [
      ["unknown type", (c) => c.send({ type: "teleport", to: "mars" }), "unknown_type"],
      ["missing field", (c) => c.send({ type: "join" }), "bad_field"],
      [
        "ill-typed field",
        (c) => c.send({ type: "msg", id: "x", room: "lobby", payload: 42 }),
        "bad_field",
      ],
      ["room name with a path", (c) => c.send({ type: "join", room: "../etc" }), "bad_field"],
      [
        "payload with a newline",
        (c) => c.send({ type: "msg", id: "x", room: "lobby", payload: "a\nb" }),
        "bad_field",
      ],
      [
        "a second hello",
        (c) => c.send({ type: "hello", version: 1, nonce: "A".repeat(43) }),
        "unexpected",
      ],
      ["a JSON array", (c) => c.sendBody(utf8("[1,2,3]")), "bad_frame"],
      ["invalid UTF-8", (c) => c.sendBody(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)), "bad_frame"],
      ["an empty frame", (c) => c.sendRaw(new Uint8Array(4)), "bad_frame"],
      ["a frame over the limit", (c) => c.sendRaw(Uint8Array.of(0, 1, 0, 1)), "frame_too_large"],
    ];
    let n = 0;
    for (const [what, act, code] of cases) {
      n += 1;
      const client = await joinedClient(fx.port, fx.caPem, await fx.issue(`mallory${n}`));
      await act(client);
      await client.expectRefusal(code).catch((e) => {
        throw new Error(`${what}: ${e.message}`);
      });
      const gone = await pair.alice.next(
        "presence",
        (m) => m.user === `mallory${n}` && m.event === "leave",
      );
      assertEquals(gone.reason, code, what);
      await pair.stillWorking(what);
    }
    pair.close();
  });
});

Deno.test("a frame of exactly the maximum size is accepted and one byte more is refused", async () => {
  await withServer({}, async (fx) => {
    const pair = await healthyPair(fx);
    const client = await RawClient.connect(fx.port, fx.caPem);
    await client.authenticate(fx.caPem, await fx.issue("carol"));
    // {"type":"ping","pad":"xxxx..."} padded to exactly MAX_FRAME_BYTES (unknown fields are ignored).
    const shell = JSON.stringify({ type: "ping", pad: "" });
    const atLimit = utf8(
      JSON.stringify({ type: "ping", pad: "x".repeat(MAX_FRAME_BYTES - shell.length) }),
    );
    assertEquals(atLimit.length, MAX_FRAME_BYTES);
    await client.sendBody(atLimit);
    await client.next("pong");
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
    await client.sendRaw(header);
    const error = await client.expectRefusal("frame_too_large");
    assertStringIncludes(
      error.message,
      `Frame of ${MAX_FRAME_BYTES + 1} bytes exceeds ${MAX_FRAME_BYTES}`,
    );
    await pair.stillWorking("oversized frame");
    pair.close();
  });
});

Deno.test("a connection that never speaks is closed at the set-up deadline; one that completes in time is not", async () => {
  await withServer({ authTimeoutMs: 1_500 }, async (fx) => {
    const pair = await healthyPair(fx);
    const silent = await RawClient.connect(fx.port, fx.caPem);
    const timely = await RawClient.connect(fx.port, fx.caPem);
    await timely.authenticate(fx.caPem, await fx.issue("carol"));
    const error = await silent.expectRefusal("auth_timeout", 3_000);
    assertStringIncludes(error.message, "Set-up did not complete within 1500 ms");
    assert(!timely.ended, "a session that completed set-up in time was closed");
    await pair.stillWorking("silent connection");
    timely.close();
    pair.close();
  });
});

/** Resolves when the server closes a plain TCP connection (read returns null or fails). */
async function closedByServer(conn: Deno.TcpConn, timeoutMs: number): Promise<boolean> {
  const buffer = new Uint8Array(1024);
  const deadline = Date.now() + timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), timeoutMs)
  );
  try {
    while (Date.now() < deadline) {
      const result = await Promise.race([conn.read(buffer).catch(() => null), timeout]);
      if (result === "timeout") return false;
      if (result === null) return true;
    }
    return false;
  } finally {
    clearTimeout(timer);
    conn.close();
  }
}

Deno.test("plain TCP garbage and a TCP connection that never starts TLS are closed; nothing else is disturbed", async () => {
  await withServer({ authTimeoutMs: 1_500 }, async (fx) => {
    const pair = await healthyPair(fx);
    const garbage = await Deno.connect({ hostname: "127.0.0.1", port: fx.port });
    await garbage.write(utf8("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert(await closedByServer(garbage, 5_000), "garbage instead of TLS was not closed");
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: fx.port });
    assert(
      await closedByServer(silent, 5_000),
      "a TCP connection without a TLS handshake stayed open",
    );
    await pair.stillWorking("non-TLS connections");
    // Sessions that finished their handshake outlive the handshake deadline.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await pair.stillWorking("past the handshake deadline");
    pair.close();
  });
});

Deno.test("a second login of the same user replaces the older session, which is told why", async () => {
  await withServer({}, async (fx) => {
    const pair = await healthyPair(fx);
    const carol = await fx.issue("carol");
    const first = await joinedClient(fx.port, fx.caPem, carol);
    await pair.alice.next("presence", (m) => m.user === "carol" && m.event === "join");
    const second = await joinedClient(fx.port, fx.caPem, carol);
    const error = await first.expectRefusal("replaced");
    assertStringIncludes(error.message, "This device logged in again");
    const leave = await pair.alice.next(
      "presence",
      (m) => m.user === "carol" && m.event === "leave",
    );
    assertEquals(leave.reason, "replaced");
    await pair.alice.next("presence", (m) => m.user === "carol" && m.event === "join");
    assert(!second.ended);
    await pair.stillWorking("replacement");
    second.close();
    pair.close();
  });
});

Deno.test("`openchat ca revoke` in another process closes the live session within 2 s and refuses the next attempt", async () => {
  await withServer({}, async (fx) => {
    const pair = await healthyPair(fx);
    const carol = await fx.issue("carol");
    const live = await joinedClient(fx.port, fx.caPem, carol);
    await pair.alice.next("presence", (m) => m.user === "carol" && m.event === "join");
    const revoke = await openchat(["ca", "revoke", "carol", "--data-dir", fx.dataDir]);
    assertEquals(revoke.code, 0, revoke.stderr);
    const revokedAt = performance.now();
    await live.expectRefusal("revoked", 2_000);
    const leave = await pair.alice.next(
      "presence",
      (m) => m.user === "carol" && m.event === "leave",
    );
    assertEquals(leave.reason, "revoked");
    assert(performance.now() - revokedAt <= 2_000);
    const again = await RawClient.connect(fx.port, fx.caPem);
    await proveAs(fx, again, carol);
    await again.expectRefusal("revoked");
    await pair.stillWorking("revocation");
    pair.close();
  });
});

Deno.test("openssl s_client verifies the server certificate for localhost against the CA", async () => {
  await requireTool("openssl", ["version"]);
  await withServer({}, async (fx) => {
    const caFile = `${fx.dataDir}/ca.pem`;
    const connect = (name: string) =>
      run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${fx.port}`,
        "-CAfile",
        caFile,
        "-verify_hostname",
        name,
        "-verify_return_error",
        "-brief",
      ], { stdin: "" });
    const ok = await connect("localhost");
    assertStringIncludes(ok.stdout + ok.stderr, "Verification: OK");
    const wrong = await connect("not-this-server.example");
    assert(
      !(wrong.stdout + wrong.stderr).includes("Verification: OK"),
      "openssl accepted a wrong host name",
    );
  });
});
