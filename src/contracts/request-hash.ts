/**
 * The hash of a command as requested, stored with its events: the same command id arriving with
 * another hash is an Idempotency-Key reused for another request. The API computes it; the activity
 * computes the same for inputs that carry none (runs started before the API sent it).
 */
import { createHash } from 'node:crypto';

/** The same hash fed piece by piece, for a command whose JSON is written as it is read (a streamed bulk). */
export function requestHasher(): { update(commandJsonPiece: string): void; digest(expectedVersion: number | undefined): string } {
  const hash = createHash('sha256');
  return {
    update: (piece) => void hash.update(piece),
    digest: (expectedVersion) => hash.update(`|${expectedVersion ?? ''}`).digest('hex'),
  };
}

export function requestHashOf(commandJson: string, expectedVersion: number | undefined): string {
  const hasher = requestHasher();
  hasher.update(commandJson);
  return hasher.digest(expectedVersion);
}
