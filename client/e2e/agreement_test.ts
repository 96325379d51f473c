import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { generateSessionSigningKeyPair } from "../../crypto/keys.ts";
import {
  AGREEMENT_GRACE_MS,
  AGREEMENT_MAX_AGE_MS,
  buildAgreementStatement,
  MAX_RETIRED_AGREEMENT_KEYS,
  OwnAgreementKeys,
  verifyAgreementStatement,
} from "./agreement.ts";
import { E2EError } from "./errors.ts";

const SESSION = "S".repeat(22);

Deno.test("replaced agreement keys are kept for AGREEMENT_GRACE_MS and no longer", async () => {
  const keys = await OwnAgreementKeys.create(0);
  const first = keys.current;
  const second = await keys.replace(1_000);
  assertEquals([first.seq, second.seq], [0, 1]);
  assertEquals(keys.privateFor(0, 1_000 + AGREEMENT_GRACE_MS), first.privateKey);
  assertEquals(keys.privateFor(0, 1_000 + AGREEMENT_GRACE_MS + 1), undefined);
  assertEquals(keys.privateFor(1, 1_000 + AGREEMENT_GRACE_MS + 1), second.privateKey);
  assertEquals(keys.privateFor(7, 0), undefined);
});

Deno.test("at most MAX_RETIRED_AGREEMENT_KEYS replaced keys are kept, however fast they are replaced", async () => {
  const keys = await OwnAgreementKeys.create(0);
  for (let i = 0; i < MAX_RETIRED_AGREEMENT_KEYS; i++) await keys.replace(0);
  assertEquals(keys.held().size, MAX_RETIRED_AGREEMENT_KEYS + 1);
  assert0Held(keys, true);
  await keys.replace(0);
  assertEquals(keys.held().size, MAX_RETIRED_AGREEMENT_KEYS + 1);
  assert0Held(keys, false);
});

Deno.test("a key replaced once a second is still held at the end of the grace, so a package wrapped to it before opens (a catch-up replaces often)", async () => {
  const keys = await OwnAgreementKeys.create(0);
  const wrappedTo = keys.current;
  // One replacement a second, after use, for the whole grace: every key of it is still held.
  for (let t = 1_000; t <= AGREEMENT_GRACE_MS; t += 1_000) await keys.replace(t);
  assertEquals(keys.privateFor(wrappedTo.seq, 1_000 + AGREEMENT_GRACE_MS), wrappedTo.privateKey);
  // And then it goes, by time.
  assertEquals(keys.privateFor(wrappedTo.seq, 1_000 + AGREEMENT_GRACE_MS + 1), undefined);
});

function assert0Held(keys: OwnAgreementKeys, held: boolean) {
  assertEquals(keys.privateFor(0, 0) !== undefined, held);
}

Deno.test("an agreement key is due for replacement after AGREEMENT_MAX_AGE_MS", async () => {
  const keys = await OwnAgreementKeys.create(5);
  assertEquals(keys.due(5 + AGREEMENT_MAX_AGE_MS - 1), false);
  assertEquals(keys.due(5 + AGREEMENT_MAX_AGE_MS), true);
});

Deno.test("an agreement statement verifies only for its session, its key and a sequence above 0", async () => {
  const keys = await OwnAgreementKeys.create(0);
  const signing = await generateSessionSigningKeyPair();
  const next = await keys.replace(1);
  const payload = await buildAgreementStatement(SESSION, next, signing.privateKey);
  const verified = await verifyAgreementStatement(payload, SESSION, signing.publicKey, "alice");
  assertEquals(verified, { seq: 1, publicKey: next.publicKey });
  const other = await generateSessionSigningKeyPair();
  for (
    const [text, session, key, code] of [
      [payload, "T".repeat(22), signing.publicKey, "bad_signature"],
      [payload, SESSION, other.publicKey, "bad_signature"],
      [payload.replace(/^1\./, "2."), SESSION, signing.publicKey, "bad_signature"],
      [payload.replace(/^1\./, "01."), SESSION, signing.publicKey, "bad_payload"],
      [
        await buildAgreementStatement(
          SESSION,
          { ...next, seq: 0 }, // sequence 0 is the announcement's; never a statement
          signing.privateKey,
        ),
        SESSION,
        signing.publicKey,
        "bad_signature",
      ],
      [payload + ".x", SESSION, signing.publicKey, "bad_payload"],
    ] as const
  ) {
    const error = await assertRejects(
      () => verifyAgreementStatement(text, session, key, "alice"),
      E2EError,
    );
    assertEquals(error.code, code, text);
  }
});
