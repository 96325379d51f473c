/**
 * Invite tokens: a round trip, every malformed shape refused with a TokenError saying what is
 * wrong, and a seeded fuzz (random text, random bytes, and mutations of a valid token) in which
 * nothing but a TokenError ever comes out.
 */

import { assertEquals, assertThrows } from "../tests/support/assert.ts";
import { toBase64Url } from "../crypto/bytes.ts";
import {
  decodeInviteToken,
  encodeInviteToken,
  type InviteToken,
  MAX_TOKEN_ADDRESSES,
  TOKEN_PREFIX,
  TokenError,
} from "./invite_token.ts";

const TOKEN: InviteToken = {
  addresses: ["chat.example.org:7443", "[::1]:7443"],
  caFingerprint: new Uint8Array(32).fill(0xab),
  user: "alice",
  device: "laptop",
  secret: new Uint8Array(16).fill(7),
  expiresAt: 1_900_000_000_000,
};

Deno.test("encodeInviteToken() and decodeInviteToken() round-trip, and the token is one printable line", () => {
  const text = encodeInviteToken(TOKEN);
  assertEquals(text.startsWith(TOKEN_PREFIX), true);
  assertEquals(/^[\x21-\x7e]+$/.test(text), true);
  assertEquals(decodeInviteToken(`  ${text}\n`), TOKEN);
  const most = { ...TOKEN, addresses: Array(MAX_TOKEN_ADDRESSES).fill("a:1") };
  assertEquals(decodeInviteToken(encodeInviteToken(most)).addresses.length, MAX_TOKEN_ADDRESSES);
  assertThrows(
    () => encodeInviteToken({ ...most, addresses: [...most.addresses, "a:1"] }),
    RangeError,
  );
});

Deno.test("decodeInviteToken() throws a TokenError naming the problem for each malformed token", () => {
  const bytes = Uint8Array.fromBase64(
    encodeInviteToken(TOKEN).slice(TOKEN_PREFIX.length),
    { alphabet: "base64url" },
  );
  const withBytes = (edit: (b: Uint8Array) => Uint8Array) =>
    TOKEN_PREFIX + toBase64Url(edit(bytes.slice()), false);
  const cases: [string, string][] = [
    ["oc2.AAAA", 'starts with "oc1."'],
    ["oc1.@@", "not base64url"],
    [withBytes((b) => b.subarray(0, b.length - 1)), "cut short"],
    [withBytes((b) => Uint8Array.of(...b, 0)), "extra bytes"],
    [withBytes((b) => (b[0] = 2, b)), "another version"],
    [withBytes((b) => (b[1] = 0, b)), "carries 0 addresses"],
    [withBytes((b) => (b[1] = MAX_TOKEN_ADDRESSES + 1, b)), "carries 5 addresses"],
    [withBytes((b) => (b[3] = 0x20, b)), "not printable ASCII"],
    [withBytes((b) => (b[b.length - 8] = 0xff, b)), "invalid expiry"],
    [encodeInviteToken(TOKEN).replace("oc1.", "oc1.A"), "another version"],
    ["oc1." + "A".repeat(3000), "far too long"],
  ];
  for (const [text, message] of cases) {
    assertThrows(() => decodeInviteToken(text), TokenError, message);
  }
});

Deno.test("decodeInviteToken() survives a seeded fuzz: only TokenError, never a crash", () => {
  let seed = 0x8e11;
  const random = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const valid = Uint8Array.fromBase64(
    encodeInviteToken(TOKEN).slice(TOKEN_PREFIX.length),
    { alphabet: "base64url" },
  );
  for (let i = 0; i < 20_000; i++) {
    let text: string;
    const kind = i % 3;
    if (kind === 0) {
      text = TOKEN_PREFIX +
        String.fromCharCode(...Array.from({ length: random() * 200 }, () => random() * 128));
    } else {
      const bytes = kind === 1
        ? Uint8Array.from({ length: random() * 200 }, () => random() * 256)
        : valid.slice();
      for (let m = 0; kind === 2 && m < 1 + random() * 4; m++) {
        bytes[Math.floor(random() * bytes.length)] = random() * 256;
      }
      text = TOKEN_PREFIX +
        toBase64Url(bytes.subarray(0, Math.floor(random() * 1.2 * bytes.length)), false);
    }
    try {
      const token = decodeInviteToken(text);
      // Whatever decodes must encode back to the same text.
      assertEquals(encodeInviteToken(token), text.trim());
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
    }
  }
});
