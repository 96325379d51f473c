/**
 * Moderation in a cluster: two chat servers in one process sharing a real `nats-server`, with
 * raw clients, so that every frame each session receives can be checked. A moderator's action
 * typed on one server reaches the room's members on every server in the room's order, a kick
 * or ban takes the user's sessions out of the room wherever they are, and bans and mutes stored
 * through one server hold on the other.
 */

import { assert, assertEquals } from "../../tests/support/assert.ts";
import { clusterCa, type ClusterMember, startMember } from "../../tests/support/cluster_fixture.ts";
import { NatsServer } from "../../tests/support/nats_server.ts";
import { join, online, settle } from "../../tests/support/offline_client.ts";
import type { RawClient } from "../../tests/support/raw_client.ts";
import { type TestIdentity, toIdentity } from "../../tests/support/server_fixture.ts";
import type { ServerMessage } from "../../protocol/messages.ts";

interface Stage {
  a: ClusterMember;
  b: ClusterMember;
  /** Logs `name/device` in on `member` and announces. */
  on(member: ClusterMember, identity: TestIdentity): ReturnType<typeof online>;
  issue(name: string, device?: string): Promise<TestIdentity>;
}

/** Runs `fn` with two servers (administrator: root) sharing one NATS under `prefix`. */
async function withCluster(prefix: string, fn: (stage: Stage) => Promise<void>): Promise<void> {
  const nats = await NatsServer.start();
  const { ca, identity, dir } = await clusterCa();
  const a = await startMember(ca, identity, nats.url, prefix, {}, { admins: ["root"] });
  const b = await startMember(ca, identity, nats.url, prefix, {}, { admins: ["root"] });
  const clients: RawClient[] = [];
  try {
    await fn({
      a,
      b,
      async on(member, who) {
        const logged = await online({ port: member.port, caPem: ca.certPem }, who);
        clients.push(logged.client);
        return logged;
      },
      async issue(name, device = "main") {
        const { issued } = await ca.issueUser(name, 30, async () => {}, { device });
        return await toIdentity(name, issued, device);
      },
    });
  } finally {
    for (const client of clients) client.close();
    await a.stop();
    await b.stop();
    ca.close();
    await Deno.remove(dir, { recursive: true });
    await nats.dispose();
  }
}

let ids = 0;
/** Sends `moderate` in lobby from `client` and returns its `moderated` answer. */
async function moderate(client: RawClient, fields: Record<string, unknown>) {
  const id = `m${++ids}`;
  await client.send({ type: "moderate", id, room: "lobby", ...fields });
  return await client.next("moderated", (m) => m.id === id);
}

/** Position in everything `client` received of the first message that matches. */
function indexOf(client: RawClient, match: (m: ServerMessage) => boolean): number {
  const index = client.all.findIndex(match);
  assert(index >= 0, `not received: ${JSON.stringify(client.all).slice(-600)}`);
  return index;
}

const about = (m: ServerMessage) => "room" in m && m.room === "lobby";

/** Asks `client`'s server (`lookup`) until it knows `user`'s session `session`, for up to 5 s. */
async function seenFrom(client: RawClient, user: string, session: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const id = `l${++ids}`;
    await client.send({ type: "lookup", id, user });
    const peer = await client.next("peer", (m) => m.id === id);
    if (peer.sessions.some((s) => s.session === session)) return;
    assert(Date.now() < deadline, `${user}'s session ${session} never seen`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test({
  name:
    "cluster moderation: a ban typed on A takes bob's session on B out in the room's order (told, then left, then nothing of the room); carol on B sees the leave at alice's version; bob is refused on both servers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withCluster("cm1", async ({ a, b, on, issue }) => {
      const alice = await on(a, await issue("alice"));
      await join(alice.client, "lobby");
      const bobIdentity = await issue("bob");
      const bob = await on(b, bobIdentity);
      await join(bob.client, "lobby");
      const carol = await on(b, await issue("carol"));
      await join(carol.client, "lobby");
      await alice.client.next("presence", (m) => m.event === "join" && m.user === "carol");

      const done = await moderate(alice.client, { command: "ban", target: "bob", reason: "spam" });
      assert(done.kind === "done" && done.event.action === "ban", JSON.stringify(done));
      const leave = await alice.client.next("presence", (m) => m.event === "leave");
      assertEquals([leave.user, leave.reason, leave.member], ["bob", "banned", false]);
      // alice heard of the ban before her answer, and before the leave.
      const told = indexOf(alice.client, (m) => m.type === "moderation" && m.action === "ban");
      assert(told < indexOf(alice.client, (m) => m.type === "moderated"));

      // carol, on the other server: the same event, the same leave at the same version.
      const carolTold = await carol.client.next("moderation", (m) => m.action === "ban");
      assertEquals(carolTold, { type: "moderation", ...done.event });
      const carolLeave = await carol.client.next("presence", (m) => m.event === "leave");
      assertEquals(
        [carolLeave.user, carolLeave.reason, carolLeave.member, carolLeave.version],
        ["bob", "banned", false, leave.version],
      );

      // bob, on the other server: told, then left.
      await bob.client.next("moderation", (m) => m.action === "ban" && m.target === "bob");
      await bob.client.next("left", (m) => m.room === "lobby");
      const bobTold = indexOf(bob.client, (m) => m.type === "moderation");
      const bobLeft = indexOf(bob.client, (m) => m.type === "left");
      assert(bobTold < bobLeft, "bob left before he was told why");

      // Sealed for the new membership: only carol's device counts, only carol receives it.
      await alice.client.send({
        type: "msg",
        id: "a1",
        room: "lobby",
        version: leave.version,
        payload: "after-the-ban",
      });
      assertEquals((await alice.client.next("ack", (m) => m.id === "a1")).recipients, 1);
      await carol.client.next("msg", (m) => m.payload === "after-the-ban");
      await settle(bob.client);
      assertEquals(bob.client.all.slice(bobLeft + 1).filter(about), []);

      // Kept out on both servers.
      await bob.client.send({ type: "join", room: "lobby" });
      assertEquals((await bob.client.next("error")).code, "banned");
      bob.client.close();
      const again = await on(a, bobIdentity);
      await again.client.send({ type: "join", room: "lobby" });
      const refused = await again.client.next("error");
      assertEquals([refused.code, refused.fatal ?? false], ["banned", false]);
      assert(refused.message.includes("spam"), refused.message);
      await settle(again.client);
      assert(!again.client.all.some((m) => m.type === "joined"), "bob got back in");
      await settle(alice.client);
      assert(
        !alice.client.all.slice(told).some((m) =>
          m.type === "presence" && m.user === "bob" && m.event === "join"
        ),
        "alice saw bob come back",
      );
    });
  },
});

Deno.test({
  name:
    "cluster moderation: banning a member who is offline announces his device removed on every server at one version, and nothing more is stored for it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withCluster("cm2", async ({ a, b, on, issue }) => {
      const alice = await on(a, await issue("alice"));
      await join(alice.client, "lobby");
      const carol = await on(b, await issue("carol"));
      await join(carol.client, "lobby");
      const dave = await on(a, await issue("dave"));
      await join(dave.client, "lobby");
      dave.client.close();
      const gone = await carol.client.next("presence", (m) => m.event === "leave");
      assertEquals([gone.user, gone.offline?.device], ["dave", "main"]);

      const done = await moderate(alice.client, { command: "ban", target: "dave" });
      assert(done.kind === "done" && done.event.action === "ban");
      const removed = await alice.client.next("offline_device");
      const seen = await carol.client.next("offline_device");
      for (const notice of [removed, seen]) {
        assertEquals([notice.user, notice.device, notice.state], ["dave", "main", "removed"]);
      }
      assertEquals(seen.version, removed.version);
      assert(removed.version > gone.version, "the membership version did not change");
      await carol.client.send({
        type: "msg",
        id: "c1",
        room: "lobby",
        version: seen.version,
        payload: "after-the-ban",
      });
      assertEquals((await carol.client.next("ack", (m) => m.id === "c1")).recipients, 1);
    });
  },
});

Deno.test({
  name:
    "cluster moderation: events reach members on both servers in order with the room's messages; a mute and +m set on B refuse bob's messages on A; +i set on B keeps erin out on A; an invite typed on A reaches her on B in no room; an administrator on B outside the room kicks bob on A",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withCluster("cm3", async ({ a, b, on, issue }) => {
      const alice = await on(a, await issue("alice"));
      const created = await join(alice.client, "lobby");
      const bob = await on(a, await issue("bob"));
      await join(bob.client, "lobby");
      const carol = await on(b, await issue("carol"));
      const joined = await join(carol.client, "lobby");
      assert(joined.version > created.version);

      // A message, the topic, a message, sent back to back on A: carol on B gets them in order.
      const version = joined.version;
      await alice.client.send({ type: "msg", id: "a1", room: "lobby", version, payload: "one" });
      await alice.client.send({
        type: "moderate",
        id: "t1",
        room: "lobby",
        command: "topic",
        text: "Release planning",
      });
      await alice.client.send({ type: "msg", id: "a2", room: "lobby", version, payload: "two" });
      await carol.client.next("msg", (m) => m.payload === "two");
      const topic = await carol.client.next("moderation", (m) => m.action === "topic");
      assert(
        topic.action === "topic" && topic.topic === "Release planning" && topic.actor === "alice",
      );
      const order = [
        indexOf(carol.client, (m) => m.type === "msg" && m.payload === "one"),
        indexOf(carol.client, (m) => m.type === "moderation" && m.action === "topic"),
        indexOf(carol.client, (m) => m.type === "msg" && m.payload === "two"),
      ];
      assertEquals([...order].sort((x, y) => x - y), order);

      // carol, made an operator from A, mutes bob from B; bob's next message, on A, is refused.
      await moderate(alice.client, { command: "op", target: "carol" });
      await carol.client.next("moderation", (m) => m.action === "op" && m.target === "carol");
      const muted = await moderate(carol.client, { command: "mute", target: "bob" });
      assert(muted.kind === "done" && muted.event.action === "mute");
      await bob.client.next("moderation", (m) => m.action === "mute" && m.actor === "carol");
      await alice.client.next("moderation", (m) => m.action === "mute");
      await bob.client.send({ type: "msg", id: "b1", room: "lobby", version, payload: "muted" });
      const refusal = await bob.client.next("error", (m) => m.id === "b1");
      assertEquals([refusal.code, refusal.fatal ?? false], ["muted", false]);
      await moderate(carol.client, { command: "unmute", target: "bob" });
      await bob.client.next("moderation", (m) => m.action === "unmute");
      await bob.client.send({ type: "msg", id: "b2", room: "lobby", version, payload: "free" });
      await carol.client.next("msg", (m) => m.payload === "free");
      assert(!carol.client.all.some((m) => m.type === "msg" && m.payload === "muted"));

      // +m set on B: bob, on A, speaks only once carol (on B) gives him a voice.
      await moderate(carol.client, { command: "mode", changes: "+m" });
      await bob.client.next("moderation", (m) => m.action === "mode" && m.modes === "m");
      await bob.client.send({ type: "msg", id: "b3", room: "lobby", version, payload: "mute" });
      assertEquals((await bob.client.next("error", (m) => m.id === "b3")).code, "moderated");
      await moderate(carol.client, { command: "voice", target: "bob" });
      await bob.client.next("moderation", (m) => m.action === "voice");
      await bob.client.send({ type: "msg", id: "b4", room: "lobby", version, payload: "voiced" });
      await carol.client.next("msg", (m) => m.payload === "voiced");
      await moderate(carol.client, { command: "mode", changes: "-m" });

      // +i set on B keeps erin out on A; an invite typed on A reaches her, online on B in no
      // room, and she gets in there.
      await moderate(carol.client, { command: "mode", changes: "+i" });
      const erinIdentity = await issue("erin");
      const erinOnA = await on(a, erinIdentity);
      await erinOnA.client.send({ type: "join", room: "lobby" });
      assertEquals((await erinOnA.client.next("error")).code, "invite_only");
      erinOnA.client.close();
      const erin = await on(b, erinIdentity);
      await seenFrom(alice.client, "erin", erin.welcome.session);
      await moderate(alice.client, { command: "invite", target: "erin" });
      const invited = await erin.client.next("moderation", (m) => m.action === "invite");
      assertEquals([invited.room, invited.actor], ["lobby", "alice"]);
      const erinJoined = await join(erin.client, "lobby");
      assertEquals(erinJoined.members.map((m) => m.user).sort(), ["alice", "bob", "carol"]);

      // root, an administrator on B in no room, kicks bob on A: root is told and answered, bob
      // is told and leaves, everyone on both servers sees the kick.
      const root = await on(b, await issue("root"));
      const kicked = await moderate(root.client, { command: "kick", target: "bob", reason: "x" });
      assert(kicked.kind === "done" && kicked.event.action === "kick");
      assert(
        indexOf(root.client, (m) => m.type === "moderation" && m.action === "kick") <
          indexOf(root.client, (m) =>
            m.type === "moderated" && m.kind === "done" &&
            m.event.action === "kick"),
      );
      await bob.client.next("moderation", (m) => m.action === "kick" && m.actor === "root");
      await bob.client.next("left", (m) => m.room === "lobby");
      for (const member of [alice, carol, erin]) {
        await member.client.next("moderation", (m) => m.action === "kick");
        const leave = await member.client.next(
          "presence",
          (m) => m.user === "bob" && m.event === "leave",
        );
        assertEquals([leave.event, leave.reason, leave.member], ["leave", "kicked", false]);
      }
      await settle(root.client);
      assertEquals(
        root.client.all.filter((m) => m.type === "moderation").map((m) => m.action),
        ["kick"],
        "root heard only of his own action",
      );
      assertEquals(root.client.all.filter((m) => m.type === "msg" || m.type === "presence"), []);
    });
  },
});

Deno.test({
  name:
    "cluster moderation: a moderation event forwarded between servers is checked as a client checks it; a malformed one reaches nobody and is logged",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withCluster("cm4", async ({ a, b, on, issue }) => {
      const erin = await on(b, await issue("erin"));
      await settle(erin.client);
      const subject = a.store.names.serverSubject(b.node.serverId);
      const event = { action: "invite", room: "lobby", actor: "alice", ts: 1, until: 2 };
      const send = (message: unknown) =>
        a.link.nc.publish(subject, JSON.stringify({ to: erin.welcome.session, message }));
      for (
        const bad of [
          { type: "moderation", ...event, action: "smite" },
          { type: "moderation", ...event, target: "Erin" },
          { type: "moderation", ...event, target: "erin", until: "soon" },
          { type: "moderated", id: "x1", kind: "done", event: { ...event, target: "erin" } },
          { type: "motd", text: "not from here" },
          "moderation",
        ]
      ) {
        send(bad);
      }
      send({ type: "moderation", ...event, target: "erin", extra: "dropped" });
      const told = await erin.client.next("moderation");
      assertEquals(told, { type: "moderation", ...event, target: "erin" });
      await settle(erin.client);
      assertEquals(
        erin.client.all.filter((m) => ["moderation", "moderated", "motd"].includes(m.type)),
        [told],
      );
      const logged = b.logs.filter((entry) => entry.event === "cluster_bad_forward").length;
      assertEquals(logged, 3, "each malformed moderation event is logged");
    });
  },
});

Deno.test({
  name:
    "cluster moderation: a command for no room or a room that does not exist is refused no_such_room, the session goes on, and no stream is made for the name",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withCluster("cm5", async ({ a, on, issue }) => {
      const root = await on(a, await issue("root"));
      for (const fields of [{ room: "nowhere" }, { room: undefined }]) {
        const id = `n${++ids}`;
        await root.client.send({ type: "moderate", id, command: "kick", target: "bob", ...fields });
        const refusal = await root.client.next("error", (m) => m.id === id);
        assertEquals([refusal.code, refusal.fatal ?? false], ["no_such_room", false]);
      }
      await settle(root.client);
      assert(!root.client.ended, "the session was closed");
      const streams: string[] = [];
      for await (const name of a.link.jsm.streams.names()) streams.push(name);
      assertEquals(streams.filter((name) => name.includes("room")), []);
    });
  },
});

Deno.test({
  name:
    "cluster moderation: a ban takes out a user's sessions still in the room after his membership ended without an event (a kick whose event NATS never took)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withCluster("cm6", async ({ a, b, on, issue }) => {
      const alice = await on(a, await issue("alice"));
      await join(alice.client, "lobby");
      const bob = await on(b, await issue("bob"));
      await join(bob.client, "lobby");
      await alice.client.next("presence", (m) => m.event === "join" && m.user === "bob");
      // What a kick leaves behind when NATS fails after the store changed: no member, but live.
      assert(await a.store.members.leave("lobby", "bob"));
      const kick = await alice.client.send({
        type: "moderate",
        id: "k1",
        room: "lobby",
        command: "kick",
        target: "bob",
      }).then(() => alice.client.next("error", (m) => m.id === "k1"));
      assertEquals(kick.code, "no_such_member");
      const done = await moderate(alice.client, { command: "ban", target: "bob" });
      assert(done.kind === "done" && done.event.action === "ban");
      await bob.client.next("left", (m) => m.room === "lobby");
      const leave = await alice.client.next("presence", (m) => m.event === "leave");
      assertEquals([leave.user, leave.reason, leave.member], ["bob", "banned", false]);
    });
  },
});
