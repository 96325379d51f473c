/**
 * The attacks of docs/SECURITY.md ("The server, or whoever controls it, holding the CA key"),
 * with real processes: a real `openchat serve`, real `openchat join --json` children (and, where
 * a test must read someone's keys, in-process `ChatClient`s), and between them a relay that
 * holds the CA key and drops, holds, reorders, replays, rewrites and injects frames
 * (`support/malicious_relay.ts`). Each test asserts the exact event the user sees, that nothing
 * the attacker captured opens with any key it holds (and that no frame carries the plaintext),
 * and that the honest members carry on. The same attacks run frame by frame against the engine
 * in `client/e2e/engine_trust_test.ts` and `engine_healing_test.ts`.
 */

import { assert, assertEquals } from "./support/assert.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { inTempDir } from "./support/cli.ts";
import { enroll, enrolled } from "./support/enrolment.ts";
import { JoinProcess } from "./support/join_process.ts";
import {
  copySnapshot,
  MaliciousRelay,
  type MaliciousRelay as Attacker,
  where,
} from "./support/malicious_relay.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { Thief } from "./support/thief.ts";
import type { ClientEvent } from "../client/events.ts";
import type { Inbound } from "../client/e2e/inbound.ts";
import { AGREEMENT_GRACE_MS, AGREEMENT_REPLACE_AFTER_USE_MS } from "../client/e2e/agreement.ts";
import { loadIdentity } from "../client/identity.ts";

const WAIT_MS = 20_000;

/** A server, the attacker's relay in front of it, and the people a test starts. */
interface Stage {
  readonly dir: string;
  readonly relay: Attacker;
  /** An identity file for `name/device`, issued (and recorded) with `openchat ca issue`. */
  identity(name: string, device?: string): Promise<string>;
  /** `openchat join --json` through the relay, with its own config directory `config`. */
  join(identityFile: string, config: string): JoinProcess;
  /** `openchat join --json` through the relay for a device enrolled into `configDir`. */
  joinEnrolled(configDir: string): JoinProcess;
  /** An in-process client through the relay, whose keys the test can read. */
  peer(identityFile: string, config: string, e2eClock?: () => number): Promise<ChatPeer>;
}

async function withAttacker(fn: (stage: Stage) => Promise<void>, serveArgs: string[] = []) {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const serve = await startServeProcess(data, serveArgs);
    const relay = await MaliciousRelay.start(data, serve.port);
    const address = `127.0.0.1:${relay.port}`;
    const processes: JoinProcess[] = [];
    const peers: ChatPeer[] = [];
    const stage: Stage = {
      dir,
      relay,
      identity: (name, device = "main") =>
        relay.issueRecorded(name, device, `${dir}/${name}-${device}.pem`),
      join(identityFile, config) {
        const process = JoinProcess.start(address, identityFile, `${dir}/config-${config}`);
        processes.push(process);
        return process;
      },
      joinEnrolled(configDir) {
        const process = JoinProcess.startWith([address, "--config-dir", configDir]);
        processes.push(process);
        return process;
      },
      async peer(identityFile, config, e2eClock) {
        const peer = await ChatPeer.start(address, identityFile, {
          configDir: `${dir}/config-${config}`,
          ...(e2eClock ? { e2eClock } : {}),
        });
        peers.push(peer);
        return peer;
      },
    };
    try {
      await fn(stage);
    } finally {
      await Promise.all(processes.map((p) => p.kill()));
      await Promise.all(peers.map((p) => p.client.quit(100).catch(() => {})));
      relay.close();
      await serve.stop("SIGKILL");
    }
  });
}

/** A marker no frame may carry: every text a test types contains it. */
function marker(): string {
  return `PLAINTEXT-${crypto.randomUUID().slice(0, 8)}`;
}

/** Key items `connection`'s client addressed to `session` (room and direct). */
function keysTo(relay: Attacker, connection: number, session: string): number {
  return relay.framesOf(connection, "to_server", "keys")
    .flatMap((f) => f.message.items as { to: string }[])
    .filter((item) => item.to === session).length;
}

/** Direct messages `connection`'s client sealed for `session`. */
function dmsTo(relay: Attacker, connection: number, session: string): number {
  return relay.framesOf(connection, "to_server", "dm")
    .filter((f) => f.message.session === session).length;
}

/** The latest membership version of `room` the server showed `connection`. */
function latestVersion(relay: Attacker, connection: number, room: string): number {
  const versions = relay.framesOf(connection, "to_client")
    .filter((f) =>
      (f.message.type === "joined" || f.message.type === "presence") && f.message.room === room
    )
    .map((f) => Number(f.message.version));
  return Math.max(...versions);
}

/** Asserts that no captured frame carries `mark`, and that no key the attacker holds opens any. */
async function assertNothingLeaked(relay: Attacker, mark: string): Promise<void> {
  assertEquals(relay.leaks([mark]).map((f) => f.message.type), [], "plaintext on the wire");
  assertEquals(await relay.loot(), [], "the attacker opened something");
}

function messages(events: ClientEvent[]) {
  return events.filter((e): e is Extract<ClientEvent, { type: "message" }> => e.type === "message");
}

function errorCodes(events: ClientEvent[]): string[] {
  return events.filter((e) => e.type === "error").map((e) => (e as { code: string }).code);
}

Deno.test("attack 1: a minted 'alice' injected with an unsolicited announcement, keys and a message is refused and shows nothing; bob's /msg alice never reaches it", async () => {
  await withAttacker(async ({ relay, identity, join }) => {
    const mark = marker();
    const alice = join(await identity("alice"), "alice");
    await alice.next("ready", () => true, WAIT_MS);
    const bob = join(await identity("bob"), "bob");
    await bob.members("lobby", ["alice", "bob"], WAIT_MS);
    await alice.members("lobby", ["alice", "bob"], WAIT_MS);
    const bobConn = await relay.connection("bob");
    const aliceSession = relay.sessionOf(await relay.connection("alice"));

    // The attacker's own "alice": a certificate minted with the CA key, a real engine behind it.
    const fake = await relay.fakeSession("alice");
    await relay.inject(bobConn, fake.announceFrame());
    assertEquals((await bob.next("error", () => true, WAIT_MS)).code, "unknown_sender");
    // Genuine key packages and a genuinely sealed message from it, in bob's room.
    const keys = await fake.enter("lobby", latestVersion(relay, bobConn, "lobby"), [
      relay.describe(bobConn),
    ]);
    assertEquals(keys.length, 1);
    for (const frame of keys) await relay.inject(bobConn, frame);
    await relay.inject(bobConn, await fake.say("lobby", "forged: send me your secrets"));
    for (let i = 0; i < 2; i++) {
      const refused = await bob.next("error", () => true, WAIT_MS);
      assertEquals(refused.code, "not_member", refused.message);
    }
    assert(!messages(bob.events).some((m) => m.text.includes("forged")), "the forgery was shown");
    assertEquals(
      bob.events.filter((e) => e.type === "key_changed" || e.type === "device_accepted")
        .map((e) => (e as { fingerprint: string }).fingerprint === fake.minted.fingerprint),
      [false],
      "the fake key was taken into account",
    );

    // bob writes to alice; the server's answer to his lookup lists the fake session too.
    const { user: _user, ...fakeInPeer } = fake.describe();
    relay.rewrite(
      where({ connection: bobConn, direction: "to_client", type: "peer", user: "alice" }),
      (message) => ({ ...message, sessions: [...(message.sessions as unknown[]), fakeInPeer] }),
    );
    await bob.type(`/msg alice ${mark} for alice only`);
    const changed = await bob.next("key_changed", () => true, WAIT_MS);
    assertEquals([changed.user, changed.device, changed.fingerprint], [
      "alice",
      "main",
      fake.minted.fingerprint,
    ]);
    assertEquals(changed.trusted.length, 1);
    const dm = await alice.next("dm", (e) => e.text === `${mark} for alice only`, WAIT_MS);
    assertEquals([dm.from, dm.to, dm.verified, dm.trust], ["bob", "alice", true, "first_seen"]);
    assertEquals((await bob.next("delivered", () => true, WAIT_MS)).recipients, 1);
    // bob sealed nothing for the fake session: no direct message, no key package.
    assertEquals(dmsTo(relay, bobConn, fake.session), 0);
    assertEquals(keysTo(relay, bobConn, fake.session), 0);
    assertEquals(dmsTo(relay, bobConn, aliceSession), 1);

    // The honest members carry on, verified.
    await alice.say(`${mark} still here`);
    const fromAlice = await bob.next("message", (e) => e.text === `${mark} still here`, WAIT_MS);
    assertEquals([fromAlice.from, fromAlice.verified], ["alice", true]);
    await bob.say(`${mark} me too`);
    assertEquals(
      (await alice.next("message", (e) => e.text === `${mark} me too`, WAIT_MS)).verified,
      true,
    );
    assertEquals(messages(bob.events).map((m) => m.text), [`${mark} still here`]);
    await assertNothingLeaked(relay, mark);
  });
});
