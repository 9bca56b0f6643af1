/**
 * API keys: minted here, shown once, stored as an HMAC-SHA256 under a server secret (a key is 256
 * random bits, so a keyed hash is enough and costs microseconds per request, unlike a password
 * hash), checked on every request against a short cache. Shared by the admin endpoints and the
 * operator CLI, so both create keys the same way.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { actorOfKey, KEY_NAME_PATTERN, ROLES, type Principal, type Role } from '../domain/access';
import type { ApiKeyRecord, ApiKeyStore } from '../ports/api-keys';

const KEY_PREFIX = 'spk_';
const KEY_FORMAT = /^spk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_CACHED = 10_000;

export class ApiKeyError extends Error {
  constructor(
    readonly code: 'VALIDATION_FAILED' | 'API_KEY_EXISTS' | 'API_KEY_NOT_FOUND',
    message: string,
  ) {
    super(message);
  }
}

export interface NewKey {
  name: string;
  role: Role;
  databases?: string[] | null;
  created_by: string;
}

export interface ApiKeysOptions {
  store: ApiKeyStore;
  secret: string;
  /** How long a checked key (valid or not) is trusted: a revocation takes effect within this. */
  cacheMs: number;
  /** An admin key that needs no store (local development only); empty or undefined: none. */
  devKey?: string;
  now?: () => number;
}

export const DEV_PRINCIPAL: Principal = { key_id: 'dev', name: 'dev', role: 'admin', databases: null, actor: actorOfKey('dev') };

export const principalOf = (r: ApiKeyRecord): Principal => ({ key_id: r.key_id, name: r.name, role: r.role, databases: r.databases, actor: actorOfKey(r.name) });

export class ApiKeys {
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();
  private readonly lookups = new Map<string, Promise<Principal | null>>();
  private readonly now: () => number;

  constructor(private readonly o: ApiKeysOptions) {
    this.now = o.now ?? Date.now;
  }

  private hash(key: string): string {
    return createHmac('sha256', this.o.secret).update(key).digest('hex');
  }

  /** Creates a key; `key` is returned here and nowhere else, ever. */
  async create(k: NewKey): Promise<{ key: string; record: ApiKeyRecord }> {
    if (!KEY_NAME_PATTERN.test(k.name)) throw new ApiKeyError('VALIDATION_FAILED', `name must match ${KEY_NAME_PATTERN.source}`);
    if (!(ROLES as readonly string[]).includes(k.role)) throw new ApiKeyError('VALIDATION_FAILED', `role must be one of ${ROLES.join(', ')}`);
    const databases = k.databases === undefined || k.databases === null ? null : [...new Set(k.databases)].sort();
    const keyId = randomBytes(6).toString('hex');
    const key = `${KEY_PREFIX}${keyId}_${randomBytes(32).toString('base64url')}`;
    const record = await this.o.store.insert({ key_id: keyId, name: k.name, role: k.role, databases, created_by: k.created_by }, this.hash(key));
    return { key, record };
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.o.store.list();
  }

  async revoke(keyId: string): Promise<ApiKeyRecord> {
    const record = await this.o.store.revoke(keyId);
    if (record === null) throw new ApiKeyError('API_KEY_NOT_FOUND', `no API key '${keyId}'`);
    // This process stops at once; every other one within its cache time.
    this.cache.clear();
    return record;
  }

  /** The caller a bearer token names, or null for a token that is not a live key. */
  async authenticate(token: string): Promise<Principal | null> {
    if (this.o.devKey && token.length === this.o.devKey.length && timingSafeEqual(Buffer.from(token), Buffer.from(this.o.devKey))) return DEV_PRINCIPAL;
    const m = KEY_FORMAT.exec(token);
    if (m === null) return null;
    const hash = this.hash(token);
    const cached = this.cache.get(hash);
    if (cached !== undefined && cached.until > this.now()) return cached.principal;
    // A burst of requests with one key (a client opening many connections at once) asks the store once.
    let lookup = this.lookups.get(hash);
    if (lookup === undefined) {
      lookup = this.lookup(m[1], hash).finally(() => this.lookups.delete(hash));
      this.lookups.set(hash, lookup);
    }
    return lookup;
  }

  private async lookup(keyId: string, hash: string): Promise<Principal | null> {
    const found = await this.o.store.find(keyId);
    const valid = found !== null && found.record.revoked_at === null && timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex'));
    const principal = valid ? principalOf(found.record) : null;
    if (this.o.cacheMs > 0) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(hash, { principal, until: this.now() + this.o.cacheMs });
    }
    return principal;
  }
}
