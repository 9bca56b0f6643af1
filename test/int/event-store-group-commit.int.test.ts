/**
 * S3EventStore.appendCommands against the real MinIO (group commit, issue 18 item 5): several
 * commands' events in one commit, each command with its own marker, so each stays idempotent on
 * its own; a lost race leaves no gap and names what it stored.
 */
import { S3EventStore } from '../../src/adapters/s3/s3-event-store';
import { createS3Client } from '../../src/adapters/s3/s3-client';
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import { S3KeyLayout } from '../../src/adapters/s3/s3-keys';
import { CLAIM_VOIDED, CommandAppendedError, VersionConflictError, type CommandMark, type StreamId } from '../../src/ports/event-store';
import { testConfig, uniqueName } from '../support/env';
import { s3StoreFixture } from '../support/events';

const { client, runPrefix, storeAt, event } = s3StoreFixture('es-group');

/** A writer that dies between its two rounds: its S3 client refuses every PUT of a stream index object (the commit point). */
const dying = createS3Client(testConfig);
dying.middlewareStack.add(
  (next, context) => async (args) => {
    const key = (args.input as { Key?: string }).Key ?? '';
    if (context.commandName === 'PutObjectCommand' && key.includes('/indexes/by-aggregate/')) throw new Error('the writer died before its commit');
    return next(args);
  },
  { step: 'initialize', name: 'dieBeforeCommit' },
);

beforeAll(async () => {
  await storeAt('setup').ensureBucket();
});
afterAll(() => {
  client.destroy();
  dying.destroy();
});

const mark = (i: number) => ({ command_id: uniqueName(`cmd${i}`), request_hash: `hash${i}` });

test('three commands in one commit: consecutive versions, each found again by its own command id', async () => {
  const stream = { aggregate_type: 'Counter', aggregate_id: uniqueName('g') };
  const store = storeAt('group');
  await store.append(stream, 'no_stream', [event(stream)]);
  const commands = [0, 1, 2].map((i) => ({ command: mark(i), events: i === 1 ? [event(stream, { i }), event(stream, { i, second: true })] : [event(stream, { i })] }));
  const appended = await store.appendCommands(stream, 1, commands);
  expect(appended.events.map((e) => e.version)).toEqual([2, 3, 4, 5]);
  expect(appended.nextExpectedVersion).toBe(5);
  const read = await storeAt('group').readStream(stream);
  expect(read.map((e) => e.envelope.event_id)).toEqual([read[0].envelope.event_id, ...commands.flatMap((c) => c.events.map((e) => e.event_id))]);

  // Each command's marker names its own events: a retry of one of them alone answers with them.
  const fresh = storeAt('group');
  const record = await fresh.findCommand(commands[1].command.command_id);
  expect(record?.events.map((e) => e.envelope.aggregate_version)).toEqual([3, 4]);
  await expect(fresh.append(stream, 5, commands[2].events, { command: commands[2].command })).rejects.toBeInstanceOf(CommandAppendedError);
});

test('a group behind the stream conflicts without writing a version', async () => {
  const stream = { aggregate_type: 'Counter', aggregate_id: uniqueName('late') };
  await storeAt('late').append(stream, 'no_stream', [event(stream), event(stream)]);
  const other = storeAt('late'); // another process: no version hint
  const err = await other.appendCommands(stream, 1, [{ command: mark(0), events: [event(stream)] }]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(VersionConflictError);
  expect((err as VersionConflictError).actual).toBe(2);
  expect((await storeAt('late').readStream(stream)).map((e) => e.envelope.aggregate_version)).toEqual([1, 2]);
});

/** What the activity does with one command: re-read the stream's end and append there, again after each lost race. */
async function retryCommand(store: S3EventStore, stream: StreamId, mark: CommandMark, events: EventEnvelope[], attempts = 5): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const current = await store.currentVersion(stream);
    try {
      const appended = await store.append(stream, current === 0 ? 'no_stream' : current, events, { command: mark });
      return appended.events[0].version;
    } catch (err) {
      if (err instanceof CommandAppendedError) return err.record.events[0].envelope.aggregate_version;
      if (!(err instanceof VersionConflictError) || attempt >= attempts) throw err;
    }
  }
}

test('a group whose writer died between the marker round and the commits blocks none of its commands, whatever order they come back in', async () => {
  const stream = { aggregate_type: 'Counter', aggregate_id: uniqueName('dead') };
  await storeAt('dead').append(stream, 'no_stream', [event(stream)]);
  const commands = [0, 1, 2].map((i) => ({ command: mark(i), events: [event(stream, { i })] }));
  const deadWriter = new S3EventStore({ client: dying, bucket: testConfig.S3_BUCKET, endpoint: testConfig.s3Endpoint, prefix: `${runPrefix}/dead` });
  await expect(deadWriter.appendCommands(stream, 1, commands)).rejects.toThrow('died before its commit');
  // Its markers name versions 2, 3 and 4, none of which is stored.
  expect((await storeAt('dead').readStream(stream)).map((e) => e.envelope.aggregate_version)).toEqual([1]);

  // The commands come back one by one in another process, the last of the group first.
  const retrier = storeAt('dead');
  const versions = new Map<string, number>();
  for (const c of [commands[2], commands[1], commands[0]]) versions.set(c.command.command_id, await retryCommand(retrier, stream, c.command, c.events));

  const read = await storeAt('dead').readStream(stream);
  expect(read.map((e) => e.envelope.aggregate_version)).toEqual(read.map((_, i) => i + 1)); // no gap
  const events = read.filter((e) => e.envelope.event_type !== CLAIM_VOIDED).map((e) => e.envelope.event_id);
  expect(events.slice(1).sort()).toEqual(commands.map((c) => c.events[0].event_id).sort()); // each command once
  for (const c of commands) {
    const record = await storeAt('dead').findCommand(c.command.command_id);
    expect(record?.events.map((e) => e.envelope.event_id)).toEqual([c.events[0].event_id]);
    expect(record?.events[0].envelope.aggregate_version).toBe(versions.get(c.command.command_id));
  }
  // A version given up to unblock a dead group changes nothing: at most one per command of the group.
  expect(read.length - 1 - commands.length).toBeLessThanOrEqual(commands.length);
});

test('a dead group marker adopted by another attempt of the same command while one attempt fences: the command is stored once', async () => {
  const stream = { aggregate_type: 'Counter', aggregate_id: uniqueName('adopt') };
  await storeAt('adopt').append(stream, 'no_stream', [event(stream)]);
  const [a, c] = [0, 1].map((i) => ({ command: mark(i), events: [event(stream, { i })] }));
  const deadWriter = new S3EventStore({ client: dying, bucket: testConfig.S3_BUCKET, endpoint: testConfig.s3Endpoint, prefix: `${runPrefix}/adopt` });
  await expect(deadWriter.appendCommands(stream, 1, [a, c])).rejects.toThrow('died before its commit');
  // Markers: a at 2, c at 3. Attempt R of c finds its marker beyond the next version and fences version 2; then,
  // once R has looked for c's events again (its next LIST) and before it acts on what it saw, attempt R2 of c
  // (state 2 now, so its target is 3: the marker's own, adopted as is) commits c at 3.
  const fencedAt2 = new S3KeyLayout(`${runPrefix}/adopt`).streamIndexKey(stream, 2);
  const adopter = storeAt('adopt');
  let fenced = false;
  let adopted: Promise<unknown> | undefined;
  const pausing = createS3Client(testConfig);
  pausing.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      const key = (args.input as { Key?: string }).Key ?? '';
      if (context.commandName === 'PutObjectCommand' && key === fencedAt2) fenced = true;
      else if (context.commandName === 'ListObjectsV2Command' && fenced && adopted === undefined) {
        adopted = adopter.append(stream, 2, c.events, { command: c.command }).catch((err: unknown) => err);
        await adopted;
      }
      return out;
    },
    { step: 'initialize', name: 'adoptAfterFence' },
  );
  try {
    const retrier = new S3EventStore({ client: pausing, bucket: testConfig.S3_BUCKET, endpoint: testConfig.s3Endpoint, prefix: `${runPrefix}/adopt` });
    const versionOfC = await retryCommand(retrier, stream, c.command, c.events);
    expect(adopted).toBeDefined();
    const versionOfA = await retryCommand(storeAt('adopt'), stream, a.command, a.events);
    const read = await storeAt('adopt').readStream(stream);
    expect(read.map((e) => e.envelope.aggregate_version)).toEqual(read.map((_, i) => i + 1));
    const stored = read.filter((e) => e.envelope.event_type !== CLAIM_VOIDED).map((e) => e.envelope.event_id);
    expect(stored.filter((id) => id === c.events[0].event_id)).toHaveLength(1); // c once, not again after the adopter's commit
    expect(stored.filter((id) => id === a.events[0].event_id)).toHaveLength(1);
    const recordOfC = await storeAt('adopt').findCommand(c.command.command_id);
    expect(recordOfC?.events[0].envelope.aggregate_version).toBe(versionOfC);
    expect((await storeAt('adopt').findCommand(a.command.command_id))?.events[0].envelope.aggregate_version).toBe(versionOfA);
  } finally {
    pausing.destroy();
  }
});
