// API keys with roles. A key is 32 random bytes shown once ("cap_" + base64url); only its SHA-256 is
// stored. A fast hash is enough here because the keys are high-entropy (nothing to brute-force, unlike
// passwords); lookups go by hash and the final comparison is constant-time anyway.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Database } from "./db.js";

/** Least to most privileged: a contributor may do what a user may, plus curate datasets; an admin everything. */
export type Role = "user" | "contributor" | "admin";
export const ROLES: readonly Role[] = ["user", "contributor", "admin"];

/** Whether a key of role `role` may call a route that needs `needed`. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** What the server knows about a key (never the key itself). Times are ISO-8601 strings. */
export interface ApiKeyInfo {
  id: string;
  role: Role;
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

/** Every key starts with this, so leaked keys are easy to recognise (and to grep for). */
export const KEY_PREFIX = "cap_";

/** A bad role or key id given by the operator. */
export class KeyStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyStoreError";
  }
}

interface KeyRow {
  id: string;
  key_hash: string;
  role: Role;
  name: string | null;
  created_at: string;
  last_used_at: string | null;
}

/** Parses a role name, with a message that lists the valid ones. */
export function parseRole(value: string): Role {
  if ((ROLES as readonly string[]).includes(value)) return value as Role;
  throw new KeyStoreError(`unknown role "${value}"; use one of: ${ROLES.join(", ")}`);
}

/** The API keys table of the server database (see db.ts for the schema). */
export class KeyStore {
  /** last_used_at is written at most this often per key, so every request does not become a write. */
  private static readonly touchIntervalMs = 60_000;

  constructor(private readonly db: Database) {}

  /** Creates a key; the returned `key` is the only time the raw key exists anywhere. */
  create(role: Role, name?: string): { key: string; info: ApiKeyInfo } {
    parseRole(role);
    const key = KEY_PREFIX + randomBytes(32).toString("base64url");
    const info: ApiKeyInfo = { id: randomUUID(), role, name: name ?? null, createdAt: new Date().toISOString(), lastUsedAt: null };
    this.db
      .prepare("INSERT INTO api_keys (id, key_hash, role, name, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(info.id, hashKey(key), info.role, info.name, info.createdAt);
    return { key, info };
  }

  /** The key's info, or null for an unknown or revoked key (and marks it used). */
  verify(key: string): ApiKeyInfo | null {
    if (typeof key !== "string" || !key.startsWith(KEY_PREFIX)) return null;
    const hash = hashKey(key);
    const row = this.db.prepare("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL").get(hash) as KeyRow | undefined;
    if (!row || !timingSafeEqual(Buffer.from(row.key_hash, "hex"), Buffer.from(hash, "hex"))) return null;
    const now = new Date();
    if (!row.last_used_at || now.getTime() - Date.parse(row.last_used_at) > KeyStore.touchIntervalMs) {
      row.last_used_at = now.toISOString();
      this.db.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").run(row.last_used_at, row.id);
    }
    return toInfo(row);
  }

  /** Active (not revoked) keys; the server is open, as in the PoC, while this is 0. */
  count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL").get() as { n: number }).n;
  }

  /** Active keys, oldest first. */
  list(): ApiKeyInfo[] {
    return (this.db.prepare("SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at, rowid").all() as KeyRow[]).map(toInfo);
  }

  /** Revokes a key by id; false if no active key has that id. */
  revoke(id: string): boolean {
    return this.db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(new Date().toISOString(), id).changes > 0;
  }
}

/** The stored form of a key: hex SHA-256. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

function toInfo(row: KeyRow): ApiKeyInfo {
  return { id: row.id, role: row.role, name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}

/** The API key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`; null if none. */
export function keyFromHeaders(headers: Record<string, string | string[] | undefined>): string | null {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(first(headers.authorization) ?? "");
  return bearer?.[1] ?? first(headers["x-api-key"])?.trim() ?? null;
}
