/**
 * A name-based UUID: the version-5 layout over SHA-256 of `name`. The same name always gives the
 * same id, so a retried command derives the ids of its first attempt (event ids, instance ids,
 * command ids).
 */
import { createHash } from 'node:crypto';

export function nameBasedUuid(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
