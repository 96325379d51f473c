import { assertEquals, assertThrows } from "../tests/support/assert.ts";
import { fromBase64Url, toBase64Url } from "./bytes.ts";
import { decodePemBlocks, decodeSinglePem, encodePem } from "./pem.ts";

Deno.test("encodePem() and decodePemBlocks() round-trip, with 64-character lines", () => {
  const der = new Uint8Array(100).map((_, i) => i);
  const pem = encodePem(der, "CERTIFICATE");
  assertEquals(pem.split("\n")[1]!.length, 64);
  const text = `junk before\n${pem}between\n${encodePem(Uint8Array.of(1), "PRIVATE KEY")}`;
  const blocks = decodePemBlocks(text);
  assertEquals(blocks.map((b) => b.label), ["CERTIFICATE", "PRIVATE KEY"]);
  assertEquals(blocks[0]!.der, der);
  assertEquals(decodeSinglePem(text, "PRIVATE KEY"), Uint8Array.of(1));
});

Deno.test("decodePemBlocks() throws on mismatched labels, bad base64 and missing blocks", () => {
  assertThrows(
    () => decodePemBlocks("-----BEGIN CERTIFICATE-----\nAQ==\n-----END PRIVATE KEY-----"),
    TypeError,
    'ends with "PRIVATE KEY"',
  );
  assertThrows(
    () => decodePemBlocks("-----BEGIN CERTIFICATE-----\nAQ=\n-----END CERTIFICATE-----"),
    TypeError,
    "invalid base64",
  );
  assertThrows(() => decodeSinglePem("nothing here", "CERTIFICATE"), TypeError, "found 0");
});

Deno.test("fromBase64Url() accepts only the canonical URL-safe spelling", () => {
  assertEquals(fromBase64Url("aGk="), Uint8Array.of(104, 105));
  assertEquals(fromBase64Url("aGk", false), Uint8Array.of(104, 105));
  assertEquals(toBase64Url(Uint8Array.of(0xfb, 0xff)), "-_8=");
  for (const bad of ["aGk", "aGk==", "a+k=", "a/k=", " aGk=", "aGl=", "a"]) {
    assertThrows(() => fromBase64Url(bad), TypeError, "Invalid base64url", bad);
  }
  for (const bad of ["aGk=", "aGl", "a", "a b"]) {
    assertThrows(() => fromBase64Url(bad, false), TypeError, "Invalid base64url", bad);
  }
});
