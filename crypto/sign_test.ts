import { assertEquals, assertRejects, assertThrows } from "../tests/support/assert.ts";
import { utf8 } from "./bytes.ts";
import { generateIdentityKeyPair, generateSessionSigningKeyPair } from "./keys.ts";
import { labelled, signLabelled, verifyLabelled } from "./sign.ts";

const kinds = [
  ["ECDSA P-256", generateIdentityKeyPair, 64],
  ["Ed25519", generateSessionSigningKeyPair, 64],
] as const;

for (const [kind, generate, length] of kinds) {
  Deno.test(`${kind}: a signature verifies only under its own label, data and key`, async () => {
    const keys = await generate();
    const other = await generate();
    const data = utf8("both nonces");
    const signature = await signLabelled(keys.privateKey, "openchat/v1 server-hello", data);
    assertEquals(signature.length, length);
    assertEquals(
      await verifyLabelled(keys.publicKey, "openchat/v1 server-hello", data, signature),
      true,
    );
    assertEquals(
      await verifyLabelled(keys.publicKey, "openchat/v1 client-auth", data, signature),
      false,
    );
    assertEquals(
      await verifyLabelled(keys.publicKey, "openchat/v1 server-hello", utf8("other"), signature),
      false,
    );
    assertEquals(
      await verifyLabelled(other.publicKey, "openchat/v1 server-hello", data, signature),
      false,
    );
    const flipped = signature.slice();
    flipped[10]! ^= 1;
    assertEquals(
      await verifyLabelled(keys.publicKey, "openchat/v1 server-hello", data, flipped),
      false,
    );
    assertEquals(
      await verifyLabelled(keys.publicKey, "openchat/v1 server-hello", data, new Uint8Array(3)),
      false,
    );
  });
}

Deno.test("labelled() puts a zero byte between label and data, and refuses labels that would blur it", () => {
  assertEquals(labelled("ab", Uint8Array.of(1)), Uint8Array.of(97, 98, 0, 1));
  assertThrows(() => labelled("", Uint8Array.of(1)), TypeError, "Invalid signature label");
  assertThrows(() => labelled("a\0b", Uint8Array.of(1)), TypeError, "Invalid signature label");
});

Deno.test("signLabelled() refuses a key of a kind openchat does not sign with", async () => {
  const hmac = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  await assertRejects(
    () => signLabelled(hmac, "x", Uint8Array.of(1)),
    TypeError,
    "Unsupported signing key: HMAC",
  );
  const p384 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, false, [
    "sign",
    "verify",
  ]);
  await assertRejects(
    () => signLabelled(p384.privateKey, "x", Uint8Array.of(1)),
    TypeError,
    "ECDSA P-384",
  );
});
