import { assert, assertEquals, assertThrows } from "../tests/support/assert.ts";
import { aesCbcDecrypt, aesCbcEncrypt } from "./aes_cbc.ts";
import { signEd25519, verifyEd25519 } from "./ed25519.ts";
import { hmacSha256Now, macsEqual, secretKey } from "./hmac.ts";
import { generateSessionSigningKeyPair } from "./keys.ts";

const hex = (text: string) => Uint8Array.fromHex(text);
const ascii = (text: string) => new TextEncoder().encode(text);

Deno.test("hmacSha256Now() matches RFC 4231 test case 2 and WebCrypto", async () => {
  const key = ascii("Jefe");
  const data = ascii("what do ya want for nothing?");
  const expected = hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assertEquals(hmacSha256Now(key, data), expected);
  assertEquals(hmacSha256Now(secretKey(key), data), expected);
  for (let i = 0; i < 20; i++) {
    const k = crypto.getRandomValues(new Uint8Array(16 + i));
    const m = crypto.getRandomValues(new Uint8Array(i * 37));
    const imported = await crypto.subtle.importKey(
      "raw",
      k,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    assertEquals(
      hmacSha256Now(secretKey(k), m),
      new Uint8Array(await crypto.subtle.sign("HMAC", imported, m)),
    );
  }
});

Deno.test("secretKey() refuses an empty key", () => {
  assertThrows(() => secretKey(new Uint8Array(0)), RangeError, "empty");
});

Deno.test("macsEqual() compares whole MACs only", () => {
  const a = hex("00112233");
  assert(macsEqual(a, hex("00112233")));
  assert(!macsEqual(a, hex("00112234")));
  assert(!macsEqual(a, hex("001122")));
});

Deno.test("aesCbcEncrypt() matches NIST SP 800-38A F.2.1 and WebCrypto; decrypt undoes it", async () => {
  const key = hex("2b7e151628aed2a6abf7158809cf4f3c");
  const iv = hex("000102030405060708090a0b0c0d0e0f");
  const block = hex("6bc1bee22e409f96e93d7e117393172a");
  const sealed = aesCbcEncrypt(secretKey(key), iv, block);
  assertEquals(sealed.length, 32); // one block, then a whole block of PKCS#7 padding
  assertEquals(sealed.subarray(0, 16), hex("7649abac8119b246cee98e9b12e9197d"));
  const imported = await crypto.subtle.importKey("raw", key, "AES-CBC", false, ["encrypt"]);
  for (const length of [0, 1, 15, 16, 17, 300]) {
    const plain = crypto.getRandomValues(new Uint8Array(length));
    const ours = aesCbcEncrypt(secretKey(key), iv, plain);
    assertEquals(
      ours,
      new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv }, imported, plain)),
    );
    assertEquals(aesCbcDecrypt(secretKey(key), iv, ours), plain);
  }
});

Deno.test("aesCbcDecrypt() throws on bad padding; both refuse a key that is not 16 or 32 bytes", () => {
  const key = secretKey(hex("2b7e151628aed2a6abf7158809cf4f3c"));
  const iv = new Uint8Array(16);
  const sealed = aesCbcEncrypt(key, iv, ascii("hello"));
  sealed[sealed.length - 1]! ^= 0xff;
  assertThrows(() => aesCbcDecrypt(key, iv, sealed));
  assertThrows(() => aesCbcEncrypt(secretKey(new Uint8Array(24)), iv, sealed), RangeError, "24");
});

Deno.test("signEd25519() matches RFC 8032 test 1; verifyEd25519() takes it and nothing else", async () => {
  const seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    hex(`302e020100300506032b657004220420${seed}`),
    "Ed25519",
    false,
    ["sign"],
  );
  const publicKey = await crypto.subtle.importKey(
    "raw",
    hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
    "Ed25519",
    true,
    ["verify"],
  );
  const signature = signEd25519(privateKey, new Uint8Array(0));
  assertEquals(
    signature,
    hex(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
  );
  assert(verifyEd25519(publicKey, new Uint8Array(0), signature));
  assert(!verifyEd25519(publicKey, new Uint8Array(1), signature));
  assert(!verifyEd25519(publicKey, new Uint8Array(0), signature.subarray(0, 63)));
  const flipped = signature.slice();
  flipped[10]! ^= 1;
  assert(!verifyEd25519(publicKey, new Uint8Array(0), flipped));
});

Deno.test("Ed25519 signatures interoperate with WebCrypto both ways; keys of other kinds are refused", async () => {
  const keys = await generateSessionSigningKeyPair();
  const data = crypto.getRandomValues(new Uint8Array(100));
  const ours = signEd25519(keys.privateKey, data);
  assert(await crypto.subtle.verify("Ed25519", keys.publicKey, ours, data));
  const theirs = new Uint8Array(await crypto.subtle.sign("Ed25519", keys.privateKey, data));
  assert(verifyEd25519(keys.publicKey, data, theirs));
  assertThrows(() => signEd25519(keys.publicKey, data), TypeError, "private");
  assertThrows(() => verifyEd25519(keys.privateKey, data, ours), TypeError, "public");
  const p256 = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  assertThrows(() => signEd25519(p256.privateKey, data), TypeError, "ECDSA");
});
