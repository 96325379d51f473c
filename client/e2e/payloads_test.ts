import { assertEquals, assertRejects, assertThrows } from "../../tests/support/assert.ts";
import { Fernet } from "../../crypto/fernet.ts";
import { generateSessionSigningKeyPair } from "../../crypto/keys.ts";
import { E2EError } from "./errors.ts";
import {
  openDirectMessage,
  openRoomMessage,
  parseRoomMessage,
  sealDirectMessage,
  sealRoomMessage,
  unwrapChainKey,
  verifyRoomMessage,
  wrapChainKey,
} from "./payloads.ts";

const alice = await generateSessionSigningKeyPair();
const mallory = await generateSessionSigningKeyPair();
const S1 = "A".repeat(22);
const S2 = "B".repeat(22);
const key = crypto.getRandomValues(new Uint8Array(32));

async function sealed(room = "lobby") {
  return await sealRoomMessage({
    room,
    session: S1,
    epoch: 3,
    n: 5,
    messageKey: key,
    signingKey: alice.privateKey,
    plain: { text: "hi ✓", ts: 1_700_000_000_000 },
  });
}

Deno.test("a sealed room message verifies and opens to its plaintext", async () => {
  const envelope = parseRoomMessage(await sealed(), "alice");
  assertEquals([envelope.epoch, envelope.n], [3, 5]);
  await verifyRoomMessage(envelope, "lobby", S1, alice.publicKey, "alice");
  assertEquals(await openRoomMessage(envelope, key, "alice"), {
    text: "hi ✓",
    ts: 1_700_000_000_000,
  });
});

Deno.test("a room message is refused when moved, renumbered, re-signed or re-keyed", async () => {
  const payload = await sealed();
  const envelope = parseRoomMessage(payload, "alice");
  const renumbered = parseRoomMessage(payload.replace(/^3\.5\./, "3.6."), "alice");
  const cases: [string, () => Promise<unknown>, string][] = [
    [
      "moved to another room",
      () => verifyRoomMessage(envelope, "other", S1, alice.publicKey, "alice"),
      "bad_signature",
    ],
    [
      "claimed by another session",
      () => verifyRoomMessage(envelope, "lobby", S2, alice.publicKey, "alice"),
      "bad_signature",
    ],
    [
      "renumbered (replay dodge)",
      () => verifyRoomMessage(renumbered, "lobby", S1, alice.publicKey, "alice"),
      "bad_signature",
    ],
    [
      "checked with another member's key",
      () => verifyRoomMessage(envelope, "lobby", S1, mallory.publicKey, "alice"),
      "bad_signature",
    ],
    [
      "opened with another key",
      () => openRoomMessage(envelope, crypto.getRandomValues(new Uint8Array(32)), "alice"),
      "undecryptable",
    ],
  ];
  for (const [what, attempt, code] of cases) {
    assertEquals((await assertRejects(attempt, E2EError, undefined, what)).code, code, what);
  }
  for (const bad of ["", "1.2.3", "x.1.t.s", "1.x.t.s", "99999999999.1.t.s", "1.1.t.***"]) {
    const error = assertThrows(() => parseRoomMessage(bad, "alice"), E2EError, "Malformed", bad);
    assertEquals(error.code, "bad_payload");
  }
});

Deno.test("a direct message opens only for its session pair, with the right key and signature", async () => {
  const directKey = new Fernet(Fernet.generateKey());
  const payload = await sealDirectMessage({
    fromSession: S1,
    toSession: S2,
    directKey,
    signingKey: alice.privateKey,
    plain: { text: "psst", ts: 1 },
  });
  const open = (over: Partial<Parameters<typeof openDirectMessage>[0]> = {}) =>
    openDirectMessage({
      payload,
      from: "alice",
      fromSession: S1,
      toSession: S2,
      directKey,
      signingKey: alice.publicKey,
      ...over,
    });
  assertEquals((await open()).plain, { text: "psst", ts: 1 });
  const cases: [string, Partial<Parameters<typeof openDirectMessage>[0]>, string][] = [
    ["redirected to another session", { toSession: "C".repeat(22) }, "bad_signature"],
    ["from another session", { fromSession: S2 }, "bad_signature"],
    ["signed by someone else", { signingKey: mallory.publicKey }, "bad_signature"],
    ["another pair's key", { directKey: new Fernet(Fernet.generateKey()) }, "undecryptable"],
    ["not a payload", { payload: "nonsense" }, "bad_payload"],
  ];
  for (const [what, over, code] of cases) {
    assertEquals(
      (await assertRejects(() => open(over), E2EError, undefined, what)).code,
      code,
      what,
    );
  }
});

Deno.test("a key package unwraps only in its own room and under its pair's key", async () => {
  const wrapKey = new Fernet(Fernet.generateKey());
  const chainKey = crypto.getRandomValues(new Uint8Array(32));
  const payload = await wrapChainKey(wrapKey, "lobby", 9, chainKey);
  assertEquals(await unwrapChainKey(wrapKey, payload, "lobby", "alice"), { epoch: 9, chainKey });
  const moved = await assertRejects(
    () => unwrapChainKey(wrapKey, payload, "other", "alice"),
    E2EError,
    "for lobby arrived in other",
  );
  assertEquals(moved.code, "bad_payload");
  const wrong = await assertRejects(
    () => unwrapChainKey(new Fernet(Fernet.generateKey()), payload, "lobby", "alice"),
    E2EError,
  );
  assertEquals(wrong.code, "undecryptable");
});
