/**
 * The server's store of rooms, memberships, moderation, ciphertext and pre-keys: the interface
 * ({@linkcode ChatStore}), its limits and errors, and the embedded SQLite implementation.
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export * from "./limits.ts";
export { SqliteStore, type SqliteStoreOptions, type Synchronous } from "./sqlite_store.ts";
