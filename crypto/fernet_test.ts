import { assertEquals, assertRejects, assertThrows } from "../tests/support/assert.ts";
import { fromUtf8 } from "./bytes.ts";
import { Fernet, InvalidToken } from "./fernet.ts";
import { pythonWithCryptography, run } from "../tests/support/tools.ts";

interface GenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}
interface VerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}
interface InvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}

const vectors = new URL("../tests/vectors/fernet/", import.meta.url);
const load = async <T>(name: string): Promise<T[]> =>
  JSON.parse(await Deno.readTextFile(new URL(name, vectors)));
const seconds = (iso: string) => Date.parse(iso) / 1000;

Deno.test("Fernet.encryptFromParts() reproduces every generate vector", async () => {
  const cases = await load<GenerateVector>("generate.json");
  assertEquals(cases.length > 0, true);
  for (const v of cases) {
    const token = await new Fernet(v.secret).encryptFromParts(
      v.src,
      seconds(v.now),
      new Uint8Array(v.iv),
    );
    assertEquals(token, v.token);
  }
});

Deno.test("Fernet.decryptAtTime() opens every verify vector", async () => {
  const cases = await load<VerifyVector>("verify.json");
  assertEquals(cases.length > 0, true);
  for (const v of cases) {
    const plain = await new Fernet(v.secret).decryptAtTime(v.token, v.ttl_sec, seconds(v.now));
    assertEquals(fromUtf8(plain), v.src);
  }
});

Deno.test("Fernet.decryptAtTime() refuses every invalid vector with InvalidToken", async () => {
  const cases = await load<InvalidVector>("invalid.json");
  assertEquals(cases.length, 8);
  for (const v of cases) {
    const error = await assertRejects(
      () => new Fernet(v.secret).decryptAtTime(v.token, v.ttl_sec, seconds(v.now)),
      InvalidToken,
      undefined,
      v.desc,
    );
    // One message for every failure: no oracle on which check failed.
    assertEquals(error.message, "Invalid Fernet token", v.desc);
  }
});

Deno.test("Fernet round-trips text and bytes, and refuses a token under another key", async () => {
  const f = new Fernet(Fernet.generateKey());
  assertEquals(fromUtf8(await f.decrypt(await f.encrypt("héllo"))), "héllo");
  const bytes = new Uint8Array(1000).map((_, i) => i % 256);
  assertEquals(await f.decrypt(await f.encrypt(bytes)), bytes);
  assertEquals(await f.decrypt(await f.encrypt(new Uint8Array(0))), new Uint8Array(0));
  const other = new Fernet(Fernet.generateKey());
  await assertRejects(async () => other.decrypt(await f.encrypt("x")), InvalidToken);
});

Deno.test("Fernet.decrypt() honours ttl and the 60-second clock-skew rule at their edges", async () => {
  const f = new Fernet(Fernet.generateKey());
  const token = await f.encryptAtTime("t", 1_000);
  assertEquals(fromUtf8(await f.decryptAtTime(token, 10, 1_010)), "t");
  await assertRejects(() => f.decryptAtTime(token, 10, 1_011), InvalidToken);
  assertEquals(fromUtf8(await f.decryptAtTime(token, 10, 940)), "t");
  await assertRejects(() => f.decryptAtTime(token, 10, 939), InvalidToken);
  // Without a ttl the timestamp is not checked, as in Python's cryptography.
  assertEquals(fromUtf8(await f.decryptAtTime(token, undefined, 1e9)), "t");
});

Deno.test("Fernet refuses tampered, truncated, re-versioned and mis-typed tokens", async () => {
  const f = new Fernet(Fernet.generateKey());
  const token = await f.encrypt("secret message");
  const raw = Uint8Array.fromBase64(token, { alphabet: "base64url" });
  const spell = (bytes: Uint8Array) => bytes.toBase64({ alphabet: "base64url" });
  for (let i = 0; i < raw.length; i++) {
    const flipped = raw.slice();
    flipped[i]! ^= 0x01;
    await assertRejects(() => f.decrypt(spell(flipped)), InvalidToken, undefined, `byte ${i}`);
  }
  await assertRejects(() => f.decrypt(spell(raw.subarray(0, raw.length - 1))), InvalidToken);
  await assertRejects(() => f.decrypt(token.replace(/=+$/, "")), InvalidToken);
  await assertRejects(() => f.decrypt(` ${token}`), InvalidToken);
  await assertRejects(() => f.decrypt(""), InvalidToken);
  await assertRejects(() => f.decrypt(42 as unknown as string), InvalidToken);
});

Deno.test("new Fernet() throws TypeError on a key that is not 32 url-safe base64 bytes", () => {
  for (const key of ["", "short", Fernet.generateKey().slice(0, 40), "+".repeat(43) + "="]) {
    assertThrows(() => new Fernet(key), TypeError, "Fernet key must be 32 url-safe base64");
  }
  assertThrows(() => Fernet.fromRawKey(new Uint8Array(31)), TypeError, "received 31 bytes");
});

const PYTHON_FERNET = `
import sys
from cryptography.fernet import Fernet
mode, key = sys.argv[1], sys.argv[2].encode()
f = Fernet(key)
data = sys.stdin.buffer.read()
sys.stdout.buffer.write(f.decrypt(data) if mode == "decrypt" else f.encrypt(data))
`;

Deno.test("Fernet interoperates with Python's cryptography.fernet in both directions", async () => {
  const python = await pythonWithCryptography();
  const key = Fernet.generateKey();
  const f = new Fernet(key);
  const ours = await f.encrypt("from deno ✓");
  const decrypted = await run(python, ["-c", PYTHON_FERNET, "decrypt", key], { stdin: ours });
  assertEquals(decrypted.code, 0, decrypted.stderr);
  assertEquals(decrypted.stdout, "from deno ✓");

  const encrypted = await run(python, ["-c", PYTHON_FERNET, "encrypt", key], {
    stdin: "from python ✓",
  });
  assertEquals(encrypted.code, 0, encrypted.stderr);
  assertEquals(fromUtf8(await f.decrypt(encrypted.stdout.trim())), "from python ✓");

  // And Python refuses what we refuse: a token whose last byte was changed.
  const raw = Uint8Array.fromBase64(ours, { alphabet: "base64url" });
  raw[raw.length - 1]! ^= 1;
  const tampered = raw.toBase64({ alphabet: "base64url" });
  const refused = await run(python, ["-c", PYTHON_FERNET, "decrypt", key], { stdin: tampered });
  assertEquals(refused.code !== 0 && refused.stderr.includes("InvalidToken"), true);
  await assertRejects(() => f.decrypt(tampered), InvalidToken);
});
