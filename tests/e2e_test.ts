/**
 * End to end, with real `openchat serve` and `openchat join --json` child processes, and a test
 * relay on the wire that records every frame and plays the attacker (replays, forged senders).
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat } from "./support/cli.ts";
import { JoinProcess } from "./support/join_process.ts";
import { Relay } from "./support/relay.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { CertificateAuthority } from "../server/authority.ts";
import { ChatClient } from "../client/chat_client.ts";
import { loadIdentity } from "../client/identity.ts";
import { TrustStore } from "../client/trust_store.ts";
import type { ClientEvent } from "../client/events.ts";
import { Fernet } from "../crypto/fernet.ts";
import { parseMessage } from "../client/e2e/payloads.ts";

interface World {
  dir: string;
  data: string;
  identity(name: string): Promise<string>;
}

/** A temporary directory with a running `openchat serve` and a way to issue identity files. */
async function withWorld(
  fn: (world: World, serve: Awaited<ReturnType<typeof startServeProcess>>) => Promise<void>,
) {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const serve = await startServeProcess(data);
    const world: World = {
      dir,
      data,
      async identity(name) {
        const out = `${dir}/${name}.pem`;
        const result = await openchat([
          "ca",
          "issue",
          name,
          "--data-dir",
          data,
          "--out",
          out,
          "--force",
        ]);
        assertEquals(result.code, 0, result.stderr);
        return out;
      },
    };
    try {
      await fn(world, serve);
    } finally {
      await serve.stop("SIGKILL");
    }
  });
}

/** A recording relay in front of the server on `port`, with a certificate from its CA. */
async function relayTo(world: World, port: number): Promise<Relay> {
  const ca = await CertificateAuthority.load(world.data);
  try {
    return await Relay.start(ca.issuer, ca.certPem, port);
  } finally {
    ca.close();
  }
}

/** Issues identity files for `names`, in order. */
async function identities(world: World, ...names: [string, string, string]) {
  const files: string[] = [];
  for (const name of names) files.push(await world.identity(name));
  return files as [string, string, string];
}

function join(
  world: World,
  port: number,
  name: string,
  identityFile: string,
  extra: string[] = [],
) {
  return JoinProcess.start(`127.0.0.1:${port}`, identityFile, `${world.dir}/config-${name}`, extra);
}

/** An in-process client (the project's own client code), whose key state a test can inspect. */
async function inProcessClient(world: World, port: number, name: string, identityFile: string) {
  const identity = await loadIdentity(identityFile);
  const client = new ChatClient({
    endpoint: { host: "127.0.0.1", port },
    identity,
    trustStore: await TrustStore.open(`${world.dir}/config-${name}`, identity.caFingerprint),
    rooms: ["lobby"],
  });
  const events: ClientEvent[] = [];
  const waiters: { match: (e: ClientEvent) => boolean; resolve: (e: ClientEvent) => void }[] = [];
  client.on((event) => {
    events.push(event);
    const waiter = waiters.find((w) => w.match(event));
    if (waiter) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(event);
    }
  });
  const next = (match: (e: ClientEvent) => boolean, timeoutMs = 10_000) => {
    const seen = events.find(match);
    if (seen) {
      events.splice(events.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise<ClientEvent>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out; events ${JSON.stringify(events).slice(-800)}`)),
        timeoutMs,
      );
      waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  };
  await client.start();
  return { client, events, next };
}

Deno.test("`openchat join --json` prints the first `connected` status, before anything else", async () => {
  await withWorld(async (world, serve) => {
    const alice = join(world, serve.port, "alice", await world.identity("alice"));
    try {
      await alice.next("ready");
      const connected = alice.events.findIndex((e) =>
        e.type === "status" && e.state === "connected"
      );
      assertEquals(connected, 0, JSON.stringify(alice.events.slice(0, 3)));
      assertStringIncludes(
        (alice.events[0] as { message: string }).message,
        `Connected to 127.0.0.1:${serve.port} as alice`,
      );
      assertEquals((await alice.close()).code, 0);
    } finally {
      await alice.kill();
    }
  });
});

Deno.test("three users chat end to end through a recording relay; the server sees only ciphertext", async () => {
  await withWorld(async (world, serve) => {
    const relay = await relayTo(world, serve.port);
    const [aliceId, bobId, carolId] = await identities(world, "alice", "bob", "carol");
    const alice = join(world, relay.port, "alice", aliceId);
    await alice.next("ready");
    const bob = join(world, relay.port, "bob", bobId);
    await bob.next("ready");
    const carol = join(world, relay.port, "carol", carolId);
    try {
      for (const client of [alice, bob, carol]) {
        await client.members("lobby", ["alice", "bob", "carol"]);
      }

      // A message from each reaches the other two, verified.
      const marker = "MARKER-7d3a1f-plaintext-must-not-leak";
      const people = { alice, bob, carol };
      for (const [name, sender] of Object.entries(people)) {
        const text = `${marker} from ${name}`;
        await sender.say(text);
        for (const [otherName, other] of Object.entries(people)) {
          if (other === sender) continue;
          const got = await other.next("message", (e) => e.text === text);
          assertEquals(
            [got.room, got.from, got.verified],
            ["lobby", name, true],
            `${otherName} got ${name}'s`,
          );
        }
      }

      // A direct message from alice reaches bob, and only bob.
      const secret = `${marker} direct to bob`;
      await alice.type(`/msg bob ${secret}`);
      const dm = await bob.next("dm", (e) => e.text === secret);
      assertEquals([dm.from, dm.to, dm.verified], ["alice", "bob", true]);
      await alice.say(`${marker} sync`);
      await carol.next("message", (e) => e.text === `${marker} sync`);
      assert(!carol.events.some((e) => e.type === "dm"), "carol saw a direct message");
      const dmFrames = relay.toClients("dm");
      assertEquals(
        new Set(dmFrames.map((f) => f.connection)).size,
        1,
        "the dm went to more than one connection",
      );

      // The marker appears nowhere the server could show it: not in its log, not in any frame.
      assert(!serve.stderr().includes("MARKER"), "plaintext in the server log");
      assert(relay.frames.length > 20);
      for (const frame of relay.frames) {
        assert(!frame.text.includes("MARKER"), `plaintext in a ${frame.message.type} frame`);
      }
      // And the relayed payloads really are Fernet ciphertext under keys the server never had.
      const relayedMsg = relay.toClients("msg")[0]!;
      const envelope = parseMessage(String(relayedMsg.message.payload), "alice");
      assert(envelope.token.startsWith("gAAAAA"), "not a Fernet token");

      // Replay: the relay sends bob's copy of a message again. Bob reports it; his session goes on.
      const bobConnection = relay.toClients("welcome").find((f) =>
        f.message.user === "bob"
      )!.connection;
      const toBob = relay.toClients("msg").filter((f) => f.connection === bobConnection).at(-1)!;
      await relay.inject(bobConnection, toBob.message);
      const replay = await bob.next("error", (e) => e.code === "replay");
      assertStringIncludes(replay.message, "replayed");

      // A forged sender: the relay restamps one of alice's messages to carol as coming from bob.
      const carolConnection = relay.toClients("welcome").find((f) =>
        f.message.user === "carol"
      )!.connection;
      const bobSession = String(
        relay.toClients("welcome").find((f) => f.message.user === "bob")!.message.session,
      );
      relay.rewrite = (frame) =>
        frame.connection === carolConnection && frame.message.type === "msg" &&
          frame.message.from === "alice"
          ? { ...frame.message, from: "bob", session: bobSession }
          : undefined;
      await alice.say("this one is forged on the way to carol");
      const forged = await carol.next("error", (e) => e.code === "bad_signature");
      assertStringIncludes(forged.message, "bob");
      assert(
        !carol.events.some((e) =>
          e.type === "message" && e.text === "this one is forged on the way to carol"
        ),
      );
      relay.rewrite = undefined;

      // Both sessions carry on.
      await alice.say("still fine");
      await bob.next("message", (e) => e.text === "still fine" && e.verified);
      await carol.next("message", (e) => e.text === "still fine" && e.verified);
    } finally {
      await Promise.all([alice, bob, carol].map((c) => c.kill()));
      relay.close();
    }
  });
});

Deno.test("bob leaves: the chain state he held cannot decrypt alice's next message", async () => {
  await withWorld(async (world, serve) => {
    const relay = await relayTo(world, serve.port);
    const [aliceId, bobId, carolId] = await identities(world, "alice", "bob", "carol");
    const alice = join(world, relay.port, "alice", aliceId);
    const carol = join(world, relay.port, "carol", carolId);
    await alice.next("ready");
    await carol.next("ready");
    const bob = await inProcessClient(world, relay.port, "bob", bobId);
    try {
      await alice.members("lobby", ["alice", "bob", "carol"]);
      await bob.next((e) => e.type === "members" && e.members.length === 3);
      await alice.say("before bob leaves");
      await bob.next((e) => e.type === "message" && e.text === "before bob leaves");

      // Keep what bob holds of alice's chain, then leave.
      const aliceSession = String(
        relay.toClients("welcome").find((f) => f.message.user === "alice")!.message.session,
      );
      const held = [
        ...bob.client.engine!.keySnapshot().received.get("lobby")?.get(aliceSession) ?? [],
      ];
      assert(held.length > 0, "bob held no chain of alice's");
      bob.client.leave("lobby");
      await alice.members("lobby", ["alice", "carol"]);
      await carol.members("lobby", ["alice", "carol"]);

      await alice.say("after bob left");
      await carol.next("message", (e) => e.text === "after bob left");
      const frame = relay.toClients("msg").filter((f) => f.message.from === "alice").at(-1)!;
      const envelope = parseMessage(String(frame.message.payload), "alice");
      assert(
        held.every((chain) => chain.epoch !== envelope.epoch),
        `the new message (epoch ${envelope.epoch}) reused an epoch bob holds (${
          held.map((c) => c.epoch)
        })`,
      );
      for (const chain of held) {
        const first = chain.next;
        for (let n = first; n < first + 50; n++) {
          const key = await chain.keyFor(n);
          let opened = false;
          try {
            await Fernet.fromRawKey(key).decrypt(envelope.token);
            opened = true;
          } catch {
            // expected: this key is not the message's
          }
          assert(!opened, `bob's epoch ${chain.epoch} step ${n} opened alice's message`);
        }
      }
      assert(!bob.events.some((e) => e.type === "message" && e.text === "after bob left"));
    } finally {
      await bob.client.quit(100);
      await Promise.all([alice.kill(), carol.kill()]);
      relay.close();
    }
  });
});

Deno.test("carol's certificate is revoked: her session ends and the others see her leave", async () => {
  await withWorld(async (world, serve) => {
    const [aliceId, bobId, carolId] = await identities(world, "alice", "bob", "carol");
    const alice = join(world, serve.port, "alice", aliceId);
    const bob = join(world, serve.port, "bob", bobId);
    await alice.next("ready");
    await bob.next("ready");
    const carol = join(world, serve.port, "carol", carolId);
    try {
      await alice.members("lobby", ["alice", "bob", "carol"]);
      const revoke = await openchat(["ca", "revoke", "carol", "--data-dir", world.data]);
      assertEquals(revoke.code, 0, revoke.stderr);
      const refused = await carol.next("error", (e) => e.code === "revoked");
      assertStringIncludes(refused.message, "revoked");
      await carol.next("status", (e) => e.state === "closed");
      assertEquals((await carol.exited()).code, 1);
      for (const other of [alice, bob]) {
        const left = await other.next("leave", (e) => e.user === "carol");
        assertEquals(left.reason, "revoked");
        await other.members("lobby", ["alice", "bob"]);
      }
      await alice.say("without carol");
      await bob.next("message", (e) => e.text === "without carol");
    } finally {
      await Promise.all([alice, bob, carol].map((c) => c.kill()));
    }
  });
});

Deno.test("the server stops and restarts: clients reconnect by themselves and chat again", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    let serve = await startServeProcess(data);
    const port = serve.port;
    const world: World = {
      dir,
      data,
      async identity(name) {
        const out = `${dir}/${name}.pem`;
        assertEquals(
          (await openchat(["ca", "issue", name, "--data-dir", data, "--out", out])).code,
          0,
        );
        return out;
      },
    };
    const alice = join(world, port, "alice", await world.identity("alice"));
    const bob = join(world, port, "bob", await world.identity("bob"));
    try {
      await alice.members("lobby", ["alice", "bob"]);
      await bob.members("lobby", ["alice", "bob"]);
      await alice.say("before the restart");
      await bob.next("message", (e) => e.text === "before the restart");

      assertEquals((await serve.stop("SIGTERM")).code, 0);
      for (const client of [alice, bob]) {
        const lost = await client.next("status", (e) => e.state === "disconnected");
        assertStringIncludes(lost.message, "reconnecting in");
      }
      // Typed while the server is down: it waits, and is sent after reconnecting (to whoever is
      // in the room by then), or reported undelivered; it never vanishes.
      await alice.type("typed while the server was down");
      const queued = await alice.next(
        "queued",
        (e) => e.text === "typed while the server was down",
      );
      serve = await startServeProcess(data, [], port);
      for (const client of [alice, bob]) {
        await client.next("status", (e) => e.state === "connected", 30_000);
        await client.members("lobby", ["alice", "bob"], 30_000);
      }
      const outcome = await Promise.race([
        alice.next("delivered", (e) => e.id === queued.id, 30_000),
        alice.next("undelivered", (e) => e.id === queued.id, 30_000),
      ]);
      if (outcome.type === "delivered" && outcome.recipients === 1) {
        // The server relays a message only to the membership it was sealed for, so if it
        // reached bob, bob can read it.
        const late = await bob.next(
          "message",
          (e) => e.text === "typed while the server was down",
          30_000,
        );
        assertEquals(late.verified, true);
      }
      assert(
        !bob.events.some((e) => e.type === "error" && e.code === "no_key"),
        "bob got a message he had no key for",
      );
      await bob.say("after the restart");
      await alice.next("message", (e) => e.text === "after the restart");
    } finally {
      await Promise.all([alice.kill(), bob.kill()]);
      await serve.stop("SIGKILL");
    }
  });
});

Deno.test("a peer whose key changed is flagged unverified until trusted", async () => {
  await withWorld(async (world, serve) => {
    const aliceId = await world.identity("alice");
    const alice = join(world, serve.port, "alice", aliceId);
    let bob = join(world, serve.port, "bob", await world.identity("bob"));
    try {
      await alice.members("lobby", ["alice", "bob"]);
      await bob.say("first key");
      assertEquals((await alice.next("message", (e) => e.text === "first key")).verified, true);
      await bob.close();
      await alice.members("lobby", ["alice"]);

      // Bob comes back with a new key (a new certificate from the same CA).
      bob = join(world, serve.port, "bob", await world.identity("bob"));
      const changed = await alice.next("key_changed", (e) => e.user === "bob");
      assertEquals(changed.trusted.length, 1);
      assert(!changed.trusted.includes(changed.fingerprint));
      await alice.members("lobby", ["alice", "bob"]);
      await bob.members("lobby", ["alice", "bob"]);
      await bob.say("second key");
      const second = await alice.next("message", (e) => e.text === "second key");
      assertEquals([second.verified, second.trust], [false, "not_accepted"]);

      await alice.type("/whois bob");
      const whois = await alice.next("whois", (e) => e.user === "bob");
      assertEquals(
        whois.devices.map((d) => [d.fingerprint, d.trust]).sort(),
        [[changed.trusted[0], "first_seen"], [changed.fingerprint, "not_accepted"]].sort(),
      );
      await alice.type(`/trust bob ${changed.fingerprint.slice(0, 23)}`);
      assertEquals((await alice.next("trusted")).fingerprint, changed.fingerprint);
      await bob.say("trusted now");
      assertEquals((await alice.next("message", (e) => e.text === "trusted now")).verified, true);
      // The decision is remembered in alice's trust store, beside the first key.
      const store = JSON.parse(await Deno.readTextFile(`${world.dir}/config-alice/trust.json`));
      const section = Object.values(store)[0] as Record<
        string,
        { devices: { fingerprint: string; state: string }[] }
      >;
      assertEquals(
        section["bob"]!.devices.map((d) => [d.fingerprint, d.state]).sort(),
        [[changed.trusted[0], "first_seen"], [changed.fingerprint, "verified"]].sort(),
      );
    } finally {
      await Promise.all([alice.kill(), bob.kill()]);
    }
  });
});
