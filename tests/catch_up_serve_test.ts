/**
 * Being offline and catching up, end to end with real processes: a real `openchat serve` and
 * three `openchat join --json` clients enrolled by invite. bob's client stops while alice and
 * carol talk in two rooms and send him a direct message; when bob starts again he shows every
 * one of them, verified, in order, once, marked as history, and then chats live. Nothing of it is
 * in plaintext in the server's data directory or output, nor in bob's config directory. Then the
 * server is killed with SIGKILL right after alice's next message was acknowledged: after the
 * restart, bob (offline all along) still reads it.
 */

import { assert, assertEquals } from "./support/assert.ts";
import { inTempDir } from "./support/cli.ts";
import { enrolled } from "./support/enrolment.ts";
import { JoinProcess } from "./support/join_process.ts";
import { type ServeProcess, startServeProcess } from "./support/serve_process.ts";
import type { ClientEvent } from "../client/events.ts";

const WAIT_MS = 20_000;
/** Messages alice and carol send while bob is away (the issue asks for 20, in two rooms). */
const AWAY_MESSAGES = 20;
const ROOMS = ["lobby", "dev"] as const;

type Message = Extract<ClientEvent, { type: "message" }>;
type Direct = Extract<ClientEvent, { type: "dm" }>;

/** Every file under `dir`, recursively, as bytes. */
async function filesUnder(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      for (const [inner, bytes] of await filesUnder(path)) files.set(inner, bytes);
    } else if (entry.isFile) {
      files.set(path, await Deno.readFile(path));
    }
  }
  return files;
}

/** The files under `dir` whose bytes contain `marker` (as UTF-8). */
async function filesContaining(dir: string, marker: string): Promise<string[]> {
  const needle = new TextEncoder().encode(marker);
  const found: string[] = [];
  for (const [path, bytes] of await filesUnder(dir)) {
    outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
      for (let j = 0; j < needle.length; j++) {
        if (bytes[i + j] !== needle[j]) continue outer;
      }
      found.push(path);
      break;
    }
  }
  return found;
}

/** Waits until `who` has shown `count` events of `type` that match, and returns them in order. */
async function shown<T extends "message" | "dm">(
  who: JoinProcess,
  type: T,
  where: (event: Extract<ClientEvent, { type: T }>) => boolean,
  count: number,
): Promise<Extract<ClientEvent, { type: T }>[]> {
  const matching = () =>
    who.events.filter((e): e is Extract<ClientEvent, { type: T }> =>
      e.type === type && where(e as Extract<ClientEvent, { type: T }>)
    );
  const deadline = Date.now() + WAIT_MS;
  while (matching().length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return matching();
}

Deno.test("bob offline while alice and carol talk in two rooms and send him a DM: on return he shows all of it verified, in order, once, then chats live; no plaintext on the server or in his config; a kill -9 after an ack loses nothing", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const marker = `mark-${crypto.randomUUID()}`;
    let serve: ServeProcess = await startServeProcess(data);
    const processes: JoinProcess[] = [];
    const start = (name: string) => {
      const process = JoinProcess.startWith(["--config-dir", `${dir}/${name}`]);
      processes.push(process);
      return process;
    };
    const output: string[] = [];
    try {
      for (const name of ["alice", "bob", "carol"]) {
        await enrolled(data, name, "main", `${dir}/${name}`);
      }
      const alice = start("alice");
      const carol = start("carol");
      let bob = start("bob");
      for (const member of [alice, bob, carol]) {
        await member.next("ready", () => true, WAIT_MS);
        await member.type("/join dev");
      }
      for (const member of [alice, bob, carol]) {
        for (const room of ROOMS) await member.members(room, ["alice", "bob", "carol"], WAIT_MS);
      }

      // bob's client stops; he stays a member of both rooms.
      assertEquals((await bob.close()).code, 0, bob.stderr);
      for (const room of ROOMS) {
        const gone = await alice.next("leave", (e) => e.user === "bob" && e.room === room, WAIT_MS);
        assertEquals(gone.offline, true, "bob stays a member while offline");
      }

      // alice and carol alternate, two messages in one room, two in the other.
      const sent: Record<string, string[]> = { lobby: [], dev: [] };
      const current = new Map<JoinProcess, string>([[alice, "dev"], [carol, "dev"]]);
      for (let i = 0; i < AWAY_MESSAGES; i++) {
        const sender = i % 2 === 0 ? alice : carol;
        const room = ROOMS[Math.floor(i / 2) % 2]!;
        if (current.get(sender) !== room) {
          await sender.type(`/join ${room}`);
          current.set(sender, room);
        }
        const text = `${marker} away ${i} in ${room}`;
        await sender.say(text);
        sent[room]!.push(text);
      }
      const direct = `${marker} a direct message for bob`;
      await alice.type(`/msg bob ${direct}`);
      await alice.next("delivered", () => true, WAIT_MS);

      // bob comes back: history first, each once, verified, in each room's order.
      bob = start("bob");
      await bob.next("ready", () => true, WAIT_MS);
      const away = (e: Message) => e.text.includes(`${marker} away`);
      const caught = await shown(bob, "message", away, AWAY_MESSAGES);
      const dms = await shown(bob, "dm", (e: Direct) => e.text === direct, 1);
      for (const room of ROOMS) {
        const inRoom = caught.filter((e) => e.room === room);
        assertEquals(inRoom.map((e) => e.text), sent[room], `${room} in order, once each`);
        assert(inRoom.every((e) => e.verified && e.history === true), `${room}: verified history`);
        const seqs = inRoom.map((e) => e.seq ?? 0);
        assertEquals(seqs, [...seqs].sort((a, b) => a - b), `${room}: by sequence`);
      }
      assertEquals(dms.map((e) => [e.from, e.verified, e.history]), [["alice", true, true]]);
      // The others' new chains (bob is back) name how many their last ones carried: those were
      // in the log being read, not missing.
      assertEquals(bob.events.filter((e) => e.type === "gap"), [], "no gap reported");

      // Then live, both ways, and nothing shown twice.
      const fromBob = `${marker} bob is back`;
      await bob.say(fromBob);
      const heard = await alice.next("message", (e) => e.text === fromBob, WAIT_MS);
      assertEquals([heard.from, heard.verified, heard.history], ["bob", true, undefined]);
      const live = `${marker} welcome back`;
      await alice.type("/join lobby");
      await alice.say(live);
      const liveAtBob = await bob.next("message", (e) => e.text === live, WAIT_MS);
      assertEquals([liveAtBob.verified, liveAtBob.history], [true, undefined]);
      const texts = bob.events.filter((e): e is Message => e.type === "message").map((e) => e.text);
      assertEquals(texts.length, new Set(texts).size, "no message shown twice");
      assertEquals(texts.filter((text) => text.includes(`${marker} away`)).length, AWAY_MESSAGES);
      assertEquals(bob.events.filter((e) => e.type === "error"), [], "bob saw no error");

      // bob leaves again; alice's next message is acknowledged and the server dies at once.
      assertEquals((await bob.close()).code, 0, bob.stderr);
      const afterKill = `${marker} acknowledged, then kill -9`;
      await alice.say(afterKill);
      assertEquals((await serve.stop("SIGKILL")).signal, "SIGKILL");
      output.push(serve.stdout(), serve.stderr());
      serve = await startServeProcess(data, [], serve.port);
      bob = start("bob");
      const kept = await bob.next("message", (e) => e.text === afterKill, WAIT_MS);
      assertEquals([kept.from, kept.verified, kept.history], ["alice", true, true]);

      assertEquals(bob.events.filter((e) => e.type === "error"), [], "bob saw no error");
      // The server kept ciphertext only; bob's history database is encrypted too.
      output.push(serve.stdout(), serve.stderr());
      assertEquals(await filesContaining(data, marker), [], "plaintext in the data directory");
      assert(!output.join("\n").includes(marker), "plaintext in the server's output");
      assertEquals(await filesContaining(`${dir}/bob`, marker), [], "plaintext in bob's config");
    } finally {
      await Promise.all(processes.map((p) => p.kill()));
      await serve.stop();
    }
  });
});
