/**
 * This device's own pre-keys (`prekeys.ts`): made here, their private halves kept in the
 * device's local store (encrypted at rest) so they outlive the process, published signed, and
 * deleted when their time is up (one-time keys once used; a replaced signed key 30 days later).
 *
 * @module
 */

import { concatBytes, fromUtf8, utf8 } from "../../crypto/bytes.ts";
import { exportRawPublicKey, RAW_25519_PUBLIC_BYTES } from "../../crypto/keys.ts";
import {
  ONE_TIME_PREKEY_LOW,
  ONE_TIME_PREKEY_TARGET,
  type PublicPrekey,
  SIGNED_PREKEY_KEEP_MS,
  SIGNED_PREKEY_ROTATE_MS,
} from "./prekeys.ts";

/** Where a device keeps secrets (the local store, encrypted at rest; or memory in tests). */
export interface SecretStore {
  putSecret(name: string, bytes: Uint8Array): Promise<void>;
  getSecret(name: string): Promise<Uint8Array | undefined>;
  deleteSecret(name: string): Promise<void>;
  secretNames(prefix: string): Promise<string[]>;
}

/** A secret store in memory: pre-keys then last as long as the process. */
export class MemorySecretStore implements SecretStore {
  readonly #secrets = new Map<string, Uint8Array>();
  putSecret(name: string, bytes: Uint8Array): Promise<void> {
    this.#secrets.set(name, bytes.slice());
    return Promise.resolve();
  }
  getSecret(name: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.#secrets.get(name)?.slice());
  }
  deleteSecret(name: string): Promise<void> {
    this.#secrets.delete(name);
    return Promise.resolve();
  }
  secretNames(prefix: string): Promise<string[]> {
    return Promise.resolve([...this.#secrets.keys()].filter((name) => name.startsWith(prefix)));
  }
}

const STATE = "prekey/state";
const X25519: Algorithm = { name: "X25519" };

interface State {
  nextId: number;
  signed: { id: number; createdAt: number } | null;
  /** Replaced signed pre-keys still kept, with when they were replaced. */
  retired: { id: number; retiredAt: number }[];
}

/** A pre-key's key pair, as the device uses it to open a package. */
export interface PrekeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: Uint8Array;
}

/** What the device should publish now (nothing when the server holds enough). */
export interface PrekeyUpload {
  readonly signed?: PublicPrekey;
  readonly onetime: PublicPrekey[];
}

/** The pre-keys of this device. */
export class DevicePrekeys {
  private constructor(private readonly store: SecretStore, private state: State) {}

  /** Opens this device's pre-keys from `store` (none yet on a new device). */
  static async open(store: SecretStore): Promise<DevicePrekeys> {
    const raw = await store.getSecret(STATE);
    const state: State = raw
      ? JSON.parse(fromUtf8(raw)) as State
      : { nextId: 1, signed: null, retired: [] };
    return new DevicePrekeys(store, state);
  }

  /**
   * Makes what is due: a new signed pre-key when there is none or it is a week old (the old one
   * retired), one-time pre-keys when the server holds fewer than {@linkcode ONE_TIME_PREKEY_LOW};
   * and deletes retired signed keys past {@linkcode SIGNED_PREKEY_KEEP_MS}.
   *
   * @param server what the server says it holds (`welcome.prekeys`).
   */
  async due(server: { signed: boolean; onetime: number }, now: number): Promise<PrekeyUpload> {
    const upload: { signed?: PublicPrekey; onetime: PublicPrekey[] } = { onetime: [] };
    const current = this.state.signed;
    if (!current || !server.signed || now - current.createdAt >= SIGNED_PREKEY_ROTATE_MS) {
      // The one it replaces stays a while: packages wrapped to it may still wait in the inbox.
      if (current) this.state.retired.push({ id: current.id, retiredAt: now });
      const id = this.#nextId();
      upload.signed = { kind: "signed", id, ts: now, publicKey: await this.#make(`s/${id}`) };
      this.state.signed = { id, createdAt: now };
    }
    for (const entry of [...this.state.retired]) {
      if (now - entry.retiredAt > SIGNED_PREKEY_KEEP_MS) {
        await this.store.deleteSecret(`prekey/s/${entry.id}`);
        this.state.retired.splice(this.state.retired.indexOf(entry), 1);
      }
    }
    if (server.onetime < ONE_TIME_PREKEY_LOW) {
      for (let i = server.onetime; i < ONE_TIME_PREKEY_TARGET; i++) {
        const id = this.#nextId();
        upload.onetime.push({ kind: "onetime", id, publicKey: await this.#make(`o/${id}`) });
      }
    }
    await this.#save();
    return upload;
  }

  /** The key pair a package names by `ref` (`s<id>` or `o<id>`), if this device still holds it. */
  async pairFor(ref: string): Promise<PrekeyPair | undefined> {
    const match = ref.match(/^([so])(\d{1,10})$/);
    if (!match) return undefined;
    const stored = await this.store.getSecret(`prekey/${match[1]}/${match[2]}`);
    if (!stored) return undefined;
    const publicKey = stored.subarray(0, RAW_25519_PUBLIC_BYTES);
    const privateKey = await crypto.subtle.importKey(
      "pkcs8",
      stored.subarray(RAW_25519_PUBLIC_BYTES) as Uint8Array<ArrayBuffer>,
      X25519,
      false,
      ["deriveBits"],
    );
    return { privateKey, publicKey: publicKey.slice() };
  }

  /** A one-time pre-key opened its package: its private half goes now. */
  async used(ref: string): Promise<void> {
    if (ref.startsWith("o")) await this.store.deleteSecret(`prekey/o/${ref.slice(1)}`);
  }

  #nextId(): number {
    const id = this.state.nextId;
    this.state.nextId = id + 1;
    return id;
  }

  /** Makes a key pair, keeps it (public, then PKCS#8 private) under `name`, returns the public. */
  async #make(name: string): Promise<Uint8Array<ArrayBuffer>> {
    const pair = await crypto.subtle.generateKey(X25519, true, ["deriveBits"]) as CryptoKeyPair;
    const publicKey = await exportRawPublicKey(pair.publicKey);
    const secret = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    await this.store.putSecret(`prekey/${name}`, concatBytes(publicKey, secret));
    secret.fill(0);
    return publicKey;
  }

  async #save(): Promise<void> {
    await this.store.putSecret(STATE, utf8(JSON.stringify(this.state)));
  }
}
