/**
 * FORGET_SUBJECT (README "Personal data"): deletes the subject's data key, then purges what the
 * read models and the search index hold of it. The key goes first: once it is gone every stored
 * and relayed copy of the values is unreadable, and the purge (idempotent) is retried until done.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, ForgetSubjectInput, ForgottenSubject } from '../activities';

const { forgetSubjectKey, purgeSubject } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export interface ForgetSubjectResult extends ForgottenSubject {
  purged: { read_model: boolean; search: boolean };
}

export async function forgetSubject(input: ForgetSubjectInput): Promise<ForgetSubjectResult> {
  const forgotten = await forgetSubjectKey(input);
  const purged = await purgeSubject({ ...input, incarnation: forgotten.incarnation });
  return { subject: forgotten.subject, incarnation: forgotten.incarnation, key_deleted: forgotten.key_deleted, purged: { read_model: purged.read_model, search: purged.search } };
}

/** One run per subject at a time; a repeat after it finished runs again (and finds no key). */
export const forgetSubjectWorkflowId = (db: string, instanceId: string): string => `forget-subject-${db}-${instanceId}`;
