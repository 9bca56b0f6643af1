/**
 * S3EventStore.appendCommands against the real MinIO (group commit, issue 18 item 5): several
 * commands' events in one commit, each command with its own marker, so each stays idempotent on
 * its own; a lost race leaves no gap and names what it stored.
 */
import { CommandAppendedError, VersionConflictError } from '../../src/ports/event-store';
import { uniqueName } from '../support/env';
import { s3StoreFixture } from '../support/events';

const { client, storeAt, event } = s3StoreFixture('es-group');

beforeAll(async () => {
  await storeAt('setup').ensureBucket();
});
afterAll(() => client.destroy());

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
