import { assertEquals, assertRejects, assertThrows } from "../../tests/support/assert.ts";
import { generateSessionSigningKeyPair } from "../../crypto/keys.ts";
import { SendingChain } from "./chains.ts";
import { E2EError } from "./errors.ts";
import {
  MAX_TEXT_BYTES,
  type MessageScope,
  openMessage,
  parseMessage,
  sealMessage,
  textFits,
  verifyMessage,
} from "./payloads.ts";

const alice = await generateSessionSigningKeyPair();
const A = "A".repeat(22);
const B = "B".repeat(22);
const ROOM: MessageScope = { kind: "room", room: "lobby" };
const DIRECT: MessageScope = { kind: "direct", recipient: B };

async function sealed(scope: MessageScope, text = "hello", to?: string) {
  const { chain } = SendingChain.create(3);
  const { n, messageKey } = await chain.nextKey();
  const payload = await sealMessage({
    scope,
    session: A,
    epoch: 3,
    n,
    messageKey: messageKey.slice(),
    signingKey: alice.privateKey,
    plain: { text, ts: 1_700_000_000_000, ...(to ? { to } : {}) },
  });
  return { payload, messageKey };
}

Deno.test("a room message and a direct message seal and open, verified first", async () => {
  for (const [scope, to] of [[ROOM, undefined], [DIRECT, "bob"]] as const) {
    const { payload, messageKey } = await sealed(scope, "hi", to);
    const envelope = parseMessage(payload, "alice");
    await verifyMessage(envelope, scope, A, alice.publicKey, "alice");
    const plain = await openMessage(envelope, messageKey, scope, "alice");
    assertEquals(plain, { text: "hi", ts: 1_700_000_000_000, ...(to ? { to } : {}) });
  }
});

Deno.test("a sealed message moved to another room, sender, recipient or kind does not verify", async () => {
  const room = parseMessage((await sealed(ROOM)).payload, "alice");
  const direct = parseMessage((await sealed(DIRECT, "x", "bob")).payload, "alice");
  const cases: [typeof room, MessageScope, string][] = [
    [room, { kind: "room", room: "other" }, A],
    [room, ROOM, B],
    [room, { kind: "direct", recipient: "lobby" }, A],
    [direct, { kind: "direct", recipient: A }, A],
    [direct, { kind: "room", room: B }, A],
  ];
  for (const [envelope, scope, session] of cases) {
    const error = await assertRejects(
      () => verifyMessage(envelope, scope, session, alice.publicKey, "alice"),
      E2EError,
    );
    assertEquals(error.code, "bad_signature");
  }
});

Deno.test("a direct message must name its recipient user; a room message must not", async () => {
  const noTo = await sealed(DIRECT, "x");
  const error = await assertRejects(
    () => openMessage(parseMessage(noTo.payload, "a"), noTo.messageKey, DIRECT, "a"),
    E2EError,
  );
  assertEquals(error.code, "bad_payload");
  const withTo = await sealed(ROOM, "x", "bob");
  const refused = await assertRejects(
    () => openMessage(parseMessage(withTo.payload, "a"), withTo.messageKey, ROOM, "a"),
    E2EError,
  );
  assertEquals(refused.code, "bad_payload");
});

Deno.test("parseMessage refuses non-canonical numbers and other shapes", async () => {
  const { payload } = await sealed(ROOM);
  const [, , token, signature] = payload.split(".");
  for (
    const bad of [
      `03.0.${token}.${signature}`,
      `3.00.${token}.${signature}`,
      `3.-1.${token}.${signature}`,
      `4294967296.0.${token}.${signature}`,
      `3.0..${signature}`,
      `3.0.${token}`,
      `3.0.${token}.${signature}=`,
      "",
    ]
  ) {
    const error = assertThrows(() => parseMessage(bad, "alice"), E2EError);
    assertEquals(error.code, "bad_payload", bad);
  }
});

Deno.test("textFits() takes exactly MAX_TEXT_BYTES of UTF-8 and no more", () => {
  assertEquals(textFits("x".repeat(MAX_TEXT_BYTES)), true);
  assertEquals(textFits("x".repeat(MAX_TEXT_BYTES + 1)), false);
  assertEquals(textFits("é".repeat(MAX_TEXT_BYTES / 2)), true);
  assertEquals(textFits("é".repeat(MAX_TEXT_BYTES / 2) + "x"), false);
});
