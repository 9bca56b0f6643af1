/**
 * Who may do what: the roles of API keys and the databases a key is limited to. Pure rules; the
 * API applies them per route (README "Access control").
 */

/** Ordered: each role may do everything the ones before it may. */
export const ROLES = ['reader', 'writer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs: a role, or nothing at all (health, metrics, the OpenAPI document). */
export type Access = Role | 'public';

/** An authenticated caller. */
export interface Principal {
  key_id: string;
  name: string;
  role: Role;
  /** Databases the key may touch; null: all of them. */
  databases: string[] | null;
  /** What events and commands record as their actor. */
  actor: string;
}

/** Key names are also actors (`key:<name>`), so they follow the actor pattern and stay short. */
export const KEY_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export const actorOfKey = (name: string): string => `key:${name}`;

export const hasRole = (principal: Pick<Principal, 'role'>, needed: Role): boolean => ROLES.indexOf(principal.role) >= ROLES.indexOf(needed);

/** A key limited to databases reaches those only; admins and unlimited keys reach every one. */
export const mayTouchDatabase = (principal: Pick<Principal, 'role' | 'databases'>, db: string): boolean =>
  principal.role === 'admin' || principal.databases === null || principal.databases.includes(db);

export type AccessDecision = { allowed: true } | { allowed: false; reason: 'role' | 'database' };

export function decideAccess(principal: Principal, needed: Role, db: string | undefined): AccessDecision {
  if (!hasRole(principal, needed)) return { allowed: false, reason: 'role' };
  if (db !== undefined && !mayTouchDatabase(principal, db)) return { allowed: false, reason: 'database' };
  return { allowed: true };
}
