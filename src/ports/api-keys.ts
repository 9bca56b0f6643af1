/** Where API keys are kept: their hashes, never the keys themselves. */
import type { Role } from '../domain/access';

export interface ApiKeyRecord {
  key_id: string;
  name: string;
  role: Role;
  databases: string[] | null;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
}

export interface ApiKeyStore {
  /** Refuses a taken name or id with an error whose code is API_KEY_EXISTS. */
  insert(record: Omit<ApiKeyRecord, 'created_at' | 'revoked_at'>, hash: string): Promise<ApiKeyRecord>;
  /** The record and its hash, revoked or not; null when no key has this id. */
  find(keyId: string): Promise<{ record: ApiKeyRecord; hash: string } | null>;
  list(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (once; a second revoke keeps the first time); null when unknown. */
  revoke(keyId: string): Promise<ApiKeyRecord | null>;
}
