/**
 * Set-up slots per network address. A connection takes a slot of its address when TCP accepts
 * it and gives it back when set-up ends (a session begins, or the connection closes), so one
 * address can hold only so many connections in set-up at once and cannot fill the server's
 * shared allowance (`MAX_PENDING_SETUPS`, and the listener's bound on open sockets) and lock
 * everyone else out.
 *
 * An address is an IPv4 address, or an IPv6 /64 prefix: one IPv6 host commonly owns a whole /64,
 * so counting single IPv6 addresses would bound nothing. IPv4-mapped IPv6 addresses
 * (`::ffff:192.0.2.1`) count as the IPv4 address they carry.
 *
 * @module
 */

/**
 * The key `ip` is counted under: the IPv4 address, or the first four groups of the IPv6 address
 * (its /64 prefix), in lower case, each group without leading zeros.
 *
 * @example
 * ```ts
 * import { addressKey } from "./address_slots.ts";
 * addressKey("2001:db8::1"); // "2001:db8:0:0::/64"
 * addressKey("::ffff:192.0.2.1"); // "192.0.2.1"
 * ```
 */
export function addressKey(ip: string): string {
  const mapped = ip.match(/^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i);
  if (mapped) return mapped[1]!;
  if (!ip.includes(":")) return ip;
  const [head = "", tail] = ip.replace(/%.*$/, "").toLowerCase().split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = Math.max(0, 8 - headGroups.length - tailGroups.length);
  const groups = [...headGroups, ...Array(missing).fill("0"), ...tailGroups];
  const prefix = groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, ""));
  return `${prefix.join(":")}::/64`;
}

/** Counts connections in set-up per address, up to a bound each. */
export class AddressSlots {
  readonly #held = new Map<string, number>();

  /** @param maxPerAddress the most slots one address may hold at once. */
  constructor(private readonly maxPerAddress: number) {}

  /** Slots held by the address `ip` belongs to. */
  held(ip: string): number {
    return this.#held.get(addressKey(ip)) ?? 0;
  }

  /**
   * Takes a slot for `ip`.
   *
   * @returns a function that gives the slot back (once, however often it is called), or
   *   undefined when the address already holds its bound.
   */
  take(ip: string): (() => void) | undefined {
    const key = addressKey(ip);
    const held = this.#held.get(key) ?? 0;
    if (held >= this.maxPerAddress) return undefined;
    this.#held.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.#held.get(key) ?? 1) - 1;
      if (now > 0) this.#held.set(key, now);
      else this.#held.delete(key);
    };
  }

  /** Number of addresses holding at least one slot. */
  get addresses(): number {
    return this.#held.size;
  }
}
