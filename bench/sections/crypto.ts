/**
 * Client crypto: Fernet beside Python's `cryptography.fernet` (same message size, same run),
 * sealing and opening chat messages as the client does (chain step, Fernet, Ed25519), and what
 * a membership change costs in a room of 100.
 *
 * Rates are messages per second of wall time with one message at a time (the client seals and
 * opens in order); "per CPU second" divides by the process's CPU time instead (WebCrypto runs
 * some work on helper threads), which is the per-core figure.
 *
 * @module
 */

import process from "node:process";
import { randomBytes } from "../../crypto/bytes.ts";
import { Fernet } from "../../crypto/fernet.ts";
import { generateSessionSigningKeyPair } from "../../crypto/keys.ts";
import { ReceivingChain, SendingChain } from "../../client/e2e/chains.ts";
import {
  type MessageScope,
  openMessage,
  parseMessage,
  sealMessage,
  verifyMessage,
} from "../../client/e2e/payloads.ts";
import { OwnAgreementKeys } from "../../client/e2e/agreement.ts";
import {
  createEphemeral,
  openKeyPackage,
  parseKeyPackage,
  sealKeyPackage,
  verifyKeyPackage,
} from "../../client/e2e/key_package.ts";
import { round } from "../lib/stats.ts";

/** What the crypto section is asked to do. */
export interface CryptoConfig {
  /** Wall time each throughput figure runs for. */
  seconds: number;
  /** Membership changes timed (room of 100). */
  rotations: number;
}

/** A throughput: operations per second of wall time and per second of CPU. */
export interface Rate {
  perSec: number;
  perCpuSec: number;
}

/** The crypto section's result. */
export interface CryptoResult {
  config: CryptoConfig;
  python: string;
  fernet: {
    deno: { encrypt: Rate; decrypt: Rate; encryptPipelined: number; decryptPipelined: number };
    python: { encrypt: number; decrypt: number } | null;
  };
  seal: Rate;
  open: Rate;
  /** Batches of 16: keys taken in order, then the 16 sealed (or verified, then opened) at once. */
  sealBatched: Rate;
  openBatched: Rate;
  membership: {
    roomSize: number;
    /** New chain and its key wrapped for every other member. */
    rotateAndWrapMs: number;
    /** Unwrapping the new chain keys of every other member. */
    unwrapAllMs: number;
  };
}

const MESSAGE_BYTES = 300;

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Runs `op` one at a time for `seconds`; each call counts as `per` operations. */
async function rate(
  seconds: number,
  op: (i: number) => Promise<unknown>,
  per = 1,
): Promise<Rate> {
  for (let i = 0; i < 200; i++) await op(i); // warm up
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let count = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 50; k++) await op(count++);
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = (cpuMicros() - cpu0) / 1e6;
  return { perSec: round((count * per) / wall), perCpuSec: round((count * per) / cpu) };
}

/** Operations per second with {@linkcode PIPELINE_DEPTH} in flight at once. */
export const PIPELINE_DEPTH = 16;

async function pipelined(seconds: number, op: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let count = 0;
  await Promise.all(Array.from({ length: PIPELINE_DEPTH }, async () => {
    while (performance.now() < end) {
      await op();
      count += 1;
    }
  }));
  return count / ((performance.now() - t0) / 1000);
}

const PYTHON_FERNET = `
import json, sys, time
from cryptography.fernet import Fernet
seconds = float(sys.argv[1])
f = Fernet(Fernet.generate_key())
data = b"x" * ${MESSAGE_BYTES}
def rate(op):
    for _ in range(200): op()
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        for _ in range(50): op()
        n += 50
    return n / (time.perf_counter() - t0)
token = f.encrypt(data)
enc = rate(lambda: f.encrypt(data))
dec = rate(lambda: f.decrypt(token))
import cryptography
print(json.dumps({"encrypt": enc, "decrypt": dec, "version": cryptography.__version__}))
`;

async function pythonFernet(
  seconds: number,
): Promise<{ encrypt: number; decrypt: number; version: string } | string> {
  for (const python of [Deno.env.get("OPENCHAT_PYTHON"), "python3", "/usr/bin/python3"]) {
    if (!python) continue;
    try {
      const output = await new Deno.Command(python, {
        args: ["-c", PYTHON_FERNET, String(seconds)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (output.code === 0) return JSON.parse(new TextDecoder().decode(output.stdout));
    } catch {
      // try the next
    }
  }
  return "no Python with the cryptography package (apt install python3-cryptography)";
}

/** Runs the crypto section. */
export async function runCrypto(
  config: CryptoConfig,
  log: (line: string) => void,
): Promise<CryptoResult> {
  log("crypto: Fernet (Deno, then Python) ...");
  const fernet = new Fernet(Fernet.generateKey());
  const data = randomBytes(MESSAGE_BYTES);
  const token = await fernet.encrypt(data);
  const encrypt = await rate(config.seconds, () => fernet.encrypt(data));
  const decrypt = await rate(config.seconds, () => fernet.decrypt(token));
  const encryptPipelined = await pipelined(config.seconds, () => fernet.encrypt(data));
  const decryptPipelined = await pipelined(config.seconds, () => fernet.decrypt(token));
  const python = await pythonFernet(config.seconds);
  if (typeof python === "string") log(`  Python skipped: ${python}`);

  log("crypto: sealing and opening chat messages ...");
  const signing = await generateSessionSigningKeyPair();
  const plain = { text: "x".repeat(200), ts: Date.now() };
  const room = "lobby";
  const scope: MessageScope = { kind: "room", room };
  const session = "AAAAAAAAAAAAAAAAAAAAAA";
  // Sealing: the sender's next chain step, then Fernet and the Ed25519 signature.
  let { chain } = SendingChain.create(1);
  const seal = await rate(config.seconds, async (i) => {
    if (i % 100_000 === 0) chain = SendingChain.create(1).chain;
    const { n, messageKey } = await chain.nextKey();
    return await sealMessage({
      scope,
      session,
      epoch: chain.epoch,
      n,
      messageKey,
      signingKey: signing.privateKey,
      plain,
    });
  });
  // Opening: messages sealed on one chain, opened in order on the receiving copy of it.
  const { chain: sender, initialKey } = SendingChain.create(7);
  const sealed: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const { n, messageKey } = await sender.nextKey();
    sealed.push(
      await sealMessage({
        scope,
        session,
        epoch: 7,
        n,
        messageKey,
        signingKey: signing.privateKey,
        plain,
      }),
    );
  }
  let receiver = new ReceivingChain(7, initialKey.slice());
  const open = await rate(config.seconds, async (i) => {
    const index = i % sealed.length;
    if (index === 0) receiver = new ReceivingChain(7, initialKey.slice());
    const envelope = parseMessage(sealed[index]!, "alice");
    await verifyMessage(envelope, scope, session, signing.publicKey, "alice");
    const key = await receiver.keyFor(envelope.n);
    return await openMessage(envelope, key, scope, "alice");
  });

  // Batched: what a client could do with several messages at hand (keys still taken in order).
  const BATCH = 16;
  let batchChain = SendingChain.create(1).chain;
  const sealBatched = await rate(config.seconds, async (i) => {
    if (i % 1000 === 0) batchChain = SendingChain.create(1).chain;
    const keys = [];
    for (let k = 0; k < BATCH; k++) keys.push(await batchChain.nextKey());
    await Promise.all(
      keys.map(({ n, messageKey }) =>
        sealMessage({
          scope,
          session,
          epoch: 1,
          n,
          messageKey,
          signingKey: signing.privateKey,
          plain,
        })
      ),
    );
  }, BATCH);
  let batchReceiver = new ReceivingChain(7, initialKey.slice());
  const openBatched = await rate(config.seconds, async (i) => {
    const start = (i * BATCH) % sealed.length;
    if (start === 0) batchReceiver = new ReceivingChain(7, initialKey.slice());
    const envelopes = sealed.slice(start, start + BATCH).map((p) => parseMessage(p, "alice"));
    await Promise.all(
      envelopes.map((e) => verifyMessage(e, scope, session, signing.publicKey, "alice")),
    );
    const keys: Uint8Array[] = [];
    for (const e of envelopes) keys.push(await batchReceiver.keyFor(e.n));
    await Promise.all(envelopes.map((e, k) => openMessage(e, keys[k]!, scope, "alice")));
  }, BATCH);

  log("crypto: a membership change in a room of 100 ...");
  const roomSize = 100;
  // Each member's current agreement key, and the sender's session key signing the packages.
  const peers: OwnAgreementKeys[] = [];
  for (let i = 0; i < roomSize - 1; i++) peers.push(await OwnAgreementKeys.create(0));
  const roster = new Uint8Array(32);
  let rotateMs = 0;
  let unwrapMs = 0;
  for (let r = 0; r < config.rotations + 1; r++) {
    // Sending side, as the engine's rotation: a new chain, its key sealed for each member.
    const t0 = performance.now();
    const fresh = SendingChain.create(r + 1);
    const ephemeral = await createEphemeral();
    const content = (to: string) => ({
      kind: "room" as const,
      scope: room,
      senderSession: session,
      recipient: to,
      epoch: fresh.chain.epoch,
      prevCount: 0,
      version: r + 1,
      rosterHash: roster,
      chainKey: fresh.initialKey,
    });
    const items = await Promise.all(
      peers.map((peer, i) =>
        sealKeyPackage({
          content: content(`p${i}`),
          ref: "a0",
          recipientPublic: peer.current.publicKey,
          ephemeral,
          signingKey: signing.privateKey,
        })
      ),
    );
    const t1 = performance.now();
    // Receiving side: every other member's new chain key (here all sealed by the same sender).
    await Promise.all(items.map(async (item, i) => {
      const envelope = parseKeyPackage(item, "peer");
      await verifyKeyPackage(envelope, {
        scope: room,
        senderSession: session,
        recipient: `p${i}`,
        verifyKey: signing.publicKey,
      }, "peer");
      return await openKeyPackage(envelope, peers[i]!.current, {
        kind: "room",
        scope: room,
        senderSession: session,
        recipient: `p${i}`,
      }, "peer");
    }));
    const t2 = performance.now();
    if (r > 0) {
      rotateMs += t1 - t0;
      unwrapMs += t2 - t1;
    }
  }
  return {
    config,
    python: typeof python === "string" ? python : `cryptography ${python.version}`,
    fernet: {
      deno: {
        encrypt,
        decrypt,
        encryptPipelined: round(encryptPipelined),
        decryptPipelined: round(decryptPipelined),
      },
      python: typeof python === "string"
        ? null
        : { encrypt: round(python.encrypt), decrypt: round(python.decrypt) },
    },
    seal,
    open,
    sealBatched,
    openBatched,
    membership: {
      roomSize,
      rotateAndWrapMs: round(rotateMs / config.rotations),
      unwrapAllMs: round(unwrapMs / config.rotations),
    },
  };
}
