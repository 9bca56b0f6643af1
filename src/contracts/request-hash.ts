/**
 * The hash of a command as requested, stored with its events: the same command id arriving with
 * another hash is an Idempotency-Key reused for another request. The API computes it; the activity
 * computes the same for inputs that carry none (runs started before the API sent it).
 */
import { createHash } from 'node:crypto';

export function requestHashOf(commandJson: string, expectedVersion: number | undefined): string {
  return createHash('sha256')
    .update(commandJson)
    .update(`|${expectedVersion ?? ''}`)
    .digest('hex');
}
