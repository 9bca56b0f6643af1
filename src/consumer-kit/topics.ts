/** Names the kit derives from the events topic and the consumer group. */

/** Kafka's topic name characters; a group name becomes part of two topic names. */
export const validGroupName = (group: string): boolean => /^[A-Za-z0-9._-]{1,100}$/.test(group);

/** Where a group's poison events go, with the reason in headers. */
export const deadLetterTopic = (topic: string, group: string): string => `${topic}.${group}.dlt`;

/** Where replayed dead letters come back to the group (and to no other group). */
export const replayTopic = (topic: string, group: string): string => `${topic}.${group}.replay`;

export const DLT_HEADERS = {
  group: 'dlt-group',
  code: 'dlt-code',
  reason: 'dlt-reason',
  attempts: 'dlt-attempts',
  /** topic/partition/offset the message was consumed from */
  source: 'dlt-source',
  /** on a replayed message: the dead letter's id */
  replayOf: 'dlt-replay-of',
} as const;
