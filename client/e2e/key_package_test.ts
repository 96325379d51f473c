import { assertEquals, assertRejects, assertThrows } from "../../tests/support/assert.ts";
import { generateSessionSigningKeyPair } from "../../crypto/keys.ts";
import { OwnAgreementKeys } from "./agreement.ts";
import { E2EError } from "./errors.ts";
import {
  createEphemeral,
  type KeyPackageContent,
  openKeyPackage,
  parseKeyPackage,
  sealKeyPackage,
  verifyKeyPackage,
} from "./key_package.ts";

const ROOM = "lobby";

async function party(session: string) {
  return {
    session,
    signing: await generateSessionSigningKeyPair(),
    agreement: await OwnAgreementKeys.create(0),
  };
}

function content(from: string, to: string, overrides: Partial<KeyPackageContent> = {}) {
  return {
    kind: "room" as const,
    scope: ROOM,
    senderSession: from,
    recipient: to,
    epoch: 3,
    prevCount: 7,
    version: 12,
    rosterHash: new Uint8Array(32).fill(9),
    chainKey: new Uint8Array(32).fill(5),
    ...overrides,
  };
}

async function sealFor(
  sender: Awaited<ReturnType<typeof party>>,
  recipient: Awaited<ReturnType<typeof party>>,
  overrides: Partial<KeyPackageContent> = {},
) {
  const key = recipient.agreement.current;
  return await sealKeyPackage({
    content: content(sender.session, recipient.session, overrides),
    ref: `a${key.seq}`,
    recipientPublic: key.publicKey,
    ephemeral: await createEphemeral(),
    signingKey: sender.signing.privateKey,
  });
}

Deno.test("a key package opens for its recipient with exactly what was sealed", async () => {
  const [alice, bob] = [await party("A".repeat(22)), await party("B".repeat(22))];
  const payload = await sealFor(alice, bob);
  const envelope = parseKeyPackage(payload, "alice");
  await verifyKeyPackage(envelope, {
    scope: ROOM,
    senderSession: alice.session,
    recipient: bob.session,
    verifyKey: alice.signing.publicKey,
  }, "alice");
  const opened = await openKeyPackage(
    envelope,
    { privateKey: bob.agreement.current.privateKey, publicKey: bob.agreement.current.publicKey },
    { kind: "room", scope: ROOM, senderSession: alice.session, recipient: bob.session },
    "alice",
  );
  assertEquals(opened, content(alice.session, bob.session));
});

Deno.test("a key package reflected back to its sender, moved to another room or readdressed is refused", async () => {
  const [alice, bob, carol] = [
    await party("A".repeat(22)),
    await party("B".repeat(22)),
    await party("C".repeat(22)),
  ];
  const envelope = parseKeyPackage(await sealFor(alice, bob), "alice");
  // Reflected: the server hands alice's own package to alice as if bob had sent it.
  const reflected = await assertRejects(
    () =>
      verifyKeyPackage(envelope, {
        scope: ROOM,
        senderSession: bob.session,
        recipient: alice.session,
        verifyKey: bob.signing.publicKey,
      }, "bob"),
    E2EError,
  );
  assertEquals(reflected.code, "bad_signature");
  // Even unsigned checks aside, alice cannot open it: it is wrapped to bob's key.
  const unopenable = await assertRejects(
    () =>
      openKeyPackage(
        envelope,
        {
          privateKey: alice.agreement.current.privateKey,
          publicKey: alice.agreement.current.publicKey,
        },
        { kind: "room", scope: ROOM, senderSession: bob.session, recipient: alice.session },
        "bob",
      ),
    E2EError,
  );
  assertEquals(unopenable.code, "undecryptable");
  for (
    const expected of [
      { scope: "other", senderSession: alice.session, recipient: bob.session },
      { scope: ROOM, senderSession: alice.session, recipient: carol.session },
      { scope: ROOM, senderSession: carol.session, recipient: bob.session },
    ]
  ) {
    const error = await assertRejects(
      () => verifyKeyPackage(envelope, { ...expected, verifyKey: alice.signing.publicKey }, "x"),
      E2EError,
    );
    assertEquals(error.code, "bad_signature");
  }
  // A package whose signed names are right but whose sealed names differ is refused on opening.
  const lying = parseKeyPackage(await sealFor(alice, bob, { recipient: carol.session }), "alice");
  const named = await assertRejects(
    () =>
      openKeyPackage(
        lying,
        {
          privateKey: bob.agreement.current.privateKey,
          publicKey: bob.agreement.current.publicKey,
        },
        { kind: "room", scope: ROOM, senderSession: alice.session, recipient: bob.session },
        "alice",
      ),
    E2EError,
  );
  assertEquals(named.code, "bad_payload");
});

Deno.test("a key package wrapped to a replaced agreement key opens only with that key", async () => {
  const [alice, bob] = [await party("A".repeat(22)), await party("B".repeat(22))];
  const old = bob.agreement.current;
  const envelope = parseKeyPackage(await sealFor(alice, bob), "alice");
  const fresh = await bob.agreement.replace(1);
  const error = await assertRejects(
    () =>
      openKeyPackage(
        envelope,
        { privateKey: fresh.privateKey, publicKey: fresh.publicKey },
        { kind: "room", scope: ROOM, senderSession: alice.session, recipient: bob.session },
        "alice",
      ),
    E2EError,
  );
  assertEquals(error.code, "undecryptable");
  assertEquals(envelope.ref, `a${old.seq}`);
});

Deno.test("parseKeyPackage refuses every malformed shape with bad_payload", async () => {
  const [alice, bob] = [await party("A".repeat(22)), await party("B".repeat(22))];
  const good = await sealFor(alice, bob);
  const parts = good.split(".");
  const cases = [
    "",
    "a0",
    parts.slice(0, 3).join("."),
    [...parts, "x"].join("."),
    ["a01", ...parts.slice(1)].join("."),
    ["b0", ...parts.slice(1)].join("."),
    [parts[0], parts[1] + "A", ...parts.slice(2)].join("."),
    [parts[0], parts[1], "", parts[3]].join("."),
    [...parts.slice(0, 3), parts[3] + "="].join("."),
  ];
  for (const payload of cases) {
    const error = assertThrows(() => parseKeyPackage(payload, "alice"), E2EError);
    assertEquals(error.code, "bad_payload", payload);
  }
});
