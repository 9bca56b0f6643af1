/** Data keys per subject in memory, for unit and workflow tests of crypto-shredding. */
import { randomBytes } from 'node:crypto';
import type { SubjectKeyStore } from '../../src/ports/personal-data';

export class MemorySubjectKeys implements SubjectKeyStore {
  readonly keys = new Map<string, Buffer>();
  async dataKeys(subjects: readonly string[], o: { create: boolean }) {
    const out = new Map<string, Buffer>();
    for (const s of subjects) {
      if (o.create && !this.keys.has(s)) this.keys.set(s, randomBytes(32));
      const k = this.keys.get(s);
      if (k) out.set(s, k);
    }
    return out;
  }
  async forget(subject: string) {
    return this.keys.delete(subject);
  }
}
