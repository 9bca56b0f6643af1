import { AggregateState, Command, CommandInput, DomainEvent, EVENT_TYPES, aggregateStateFrom, decideOrThrow, evolve, initialState, streamOf } from '../../../src/domain';
import { DB, activeDb, classes, instanceContext } from './given-when-then';

/** Runs commands against one stream, folding each command's events, the way the workflow does. */
function run(commands: CommandInput[], context = instanceContext({ acme: { class_id: 'Company' } })) {
  const type = streamOf(commands[0], 1).aggregate_type;
  let state: AggregateState = initialState(type);
  const history: DomainEvent[] = [];
  for (const command of commands) {
    const events = decideOrThrow(command, state, context);
    history.push(...events);
    state = events.reduce((s, e) => evolve(s, e), state);
  }
  return { state, history };
}

describe('evolve', () => {
  it('starts every aggregate absent at version 0', () => {
    expect(initialState('database')).toEqual({ aggregate_type: 'database', version: 0, status: 'absent' });
    expect(initialState('ontology_class')).toMatchObject({ version: 0, status: 'absent' });
    expect(initialState('instance')).toMatchObject({ version: 0, status: 'absent' });
    expect(initialState('instance_batch')).toMatchObject({ version: 0, status: 'absent', instance_count: 0 });
  });

  it('round-trips a database stream: folding the history equals the running state', () => {
    const { state, history } = run([
      { command_type: 'CREATE_DATABASE', payload: { name: DB, description: 'd' } },
      { command_type: 'DELETE_DATABASE', payload: { name: DB } },
      { command_type: 'CREATE_DATABASE', payload: { name: DB } },
    ]);
    expect(aggregateStateFrom(history)).toEqual(state);
    // re-creation does not inherit the old description
    expect(state).toEqual({ aggregate_type: 'database', version: 3, status: 'active', name: DB, incarnation: 3 });
  });

  it('round-trips a class stream', () => {
    const { state, history } = run(
      [
        { command_type: 'CREATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Car', label: 'Car', properties: [{ name: 'wheels', type: 'integer' }] } },
        { command_type: 'UPDATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Car', label: 'Automobile', abstract: true } },
      ],
      { database: activeDb, classes },
    );
    expect(aggregateStateFrom(history)).toEqual(state);
    expect(state).toMatchObject({
      version: 2,
      status: 'active',
      db_name: DB,
      definition: { id: 'Car', label: 'Automobile', abstract: true, properties: [{ name: 'wheels', type: 'integer', required: false }] },
    });
  });

  it('round-trips an instance stream through create, update and delete', () => {
    const { state, history } = run([
      { command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'i1', class_id: 'Person', properties: { name: 'I', age: 1 } } },
      { command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'i1', properties: { age: 2 }, relationships: { employer: 'acme' } } },
      { command_type: 'DELETE_INSTANCE', db_name: DB, payload: { id: 'i1' } },
    ]);
    expect(history.map((e) => e.event_type)).toEqual([EVENT_TYPES.INSTANCE_CREATED, EVENT_TYPES.INSTANCE_UPDATED, EVENT_TYPES.INSTANCE_DELETED]);
    expect(aggregateStateFrom(history)).toEqual(state);
    expect(state).toMatchObject({
      version: 3,
      status: 'deleted',
      instance: { id: 'i1', properties: { name: 'I', age: 2 }, relationships: { employer: 'acme' } },
    });
  });

  it('survives a JSON round trip of events (as stored in S3)', () => {
    const { history } = run([{ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'i1', class_id: 'Person', properties: { name: 'I', tags: ['x'] } } }]);
    const stored = JSON.parse(JSON.stringify(history)) as DomainEvent[];
    expect(aggregateStateFrom(stored)).toEqual(aggregateStateFrom(history));
  });

  it('takes the version from stored envelopes', () => {
    const envelope = {
      event_id: 'e-7',
      aggregate_version: 7,
      occurred_at: '2024-01-01T00:00:00Z',
      event_type: 'DATABASE_CREATED',
      aggregate_type: 'database',
      aggregate_id: DB,
      payload: { name: DB },
    };
    expect(aggregateStateFrom([envelope])).toMatchObject({ version: 7, status: 'active' });
  });

  it('continues from a snapshot', () => {
    const snapshot = aggregateStateFrom([{ event_type: 'DATABASE_CREATED', aggregate_type: 'database', aggregate_id: DB, payload: { name: DB } }], 'database');
    const state = aggregateStateFrom([{ event_type: 'DATABASE_DELETED', aggregate_type: 'database', aggregate_id: DB, payload: { name: DB } }], 'database', snapshot);
    expect(state).toEqual({ ...snapshot, version: 2, status: 'deleted' });
  });

  it('advances the version over event types it does not know', () => {
    const state = evolve(initialState('database'), { event_type: 'DATABASE_RENAMED', aggregate_type: 'database', aggregate_id: DB, payload: {} });
    expect(state).toEqual({ aggregate_type: 'database', version: 1, status: 'absent' });
  });

  it('refuses an event of another aggregate type', () => {
    expect(() => evolve(initialState('instance'), { event_type: 'DATABASE_CREATED', aggregate_type: 'database', aggregate_id: DB, payload: { name: DB } })).toThrow(
      /database event to a instance state/,
    );
  });

  it('needs an aggregate type to fold an empty stream', () => {
    expect(() => aggregateStateFrom([])).toThrow();
    expect(aggregateStateFrom([], 'instance')).toEqual(initialState('instance'));
  });

  it('does not mutate the state it is given', () => {
    const before = initialState('database');
    const frozen = Object.freeze({ ...before });
    evolve(frozen, { event_type: 'DATABASE_CREATED', aggregate_type: 'database', aggregate_id: DB, payload: { name: DB } });
    expect(frozen).toEqual(before);
  });
});

describe('streamOf', () => {
  it.each<[CommandInput, string, string]>([
    [{ command_type: 'CREATE_DATABASE', payload: { name: 'db1' } }, 'database', 'db1'],
    [{ command_type: 'DELETE_DATABASE', payload: { name: 'db1' } }, 'database', 'db1'],
    [{ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: 'db1', payload: { id: 'C', label: 'C' } }, 'ontology_class', 'db1:C'],
    [{ command_type: 'UPDATE_ONTOLOGY_CLASS', db_name: 'db1', payload: { id: 'C', label: 'D' } }, 'ontology_class', 'db1:C'],
    [{ command_type: 'DELETE_ONTOLOGY_CLASS', db_name: 'db1', payload: { id: 'C' } }, 'ontology_class', 'db1:C'],
    [{ command_type: 'CREATE_INSTANCE', db_name: 'db1', payload: { id: 'i:1', class_id: 'C' } }, 'instance', 'db1:i:1'],
    [{ command_type: 'UPDATE_INSTANCE', db_name: 'db1', payload: { id: 'i1', properties: {} } }, 'instance', 'db1:i1'],
    [{ command_type: 'DELETE_INSTANCE', db_name: 'db1', payload: { id: 'i1' } }, 'instance', 'db1:i1'],
    [{ command_type: 'BULK_CREATE_INSTANCES', db_name: 'db1', batch_id: 'b1', payload: { class_id: 'C', instances: [] } }, 'instance_batch', 'db1:b1'],
  ])('%j goes to its stream', (command, aggregate_type, aggregate_id) => {
    expect(streamOf(command, 1)).toEqual({ aggregate_type, aggregate_id });
  });

  it('matches the stream of the events decide produces', () => {
    const command: Command = { command_type: 'CREATE_DATABASE', payload: { name: 'db1' } };
    const [event] = decideOrThrow(command);
    expect({ aggregate_type: event.aggregate_type, aggregate_id: event.aggregate_id }).toEqual(streamOf(command, 1));
  });
});
