import { given, dbCreated, DB } from './given-when-then';

const create = (payload: Record<string, unknown>) => ({ command_type: 'CREATE_DATABASE', payload });
const del = (name: string) => ({ command_type: 'DELETE_DATABASE', payload: { name } });

describe('database', () => {
  describe('CREATE_DATABASE', () => {
    it('creates a database', () => {
      given()
        .when(create({ name: 'shop', description: 'the shop' }))
        .thenEvents([
          {
            event_type: 'DATABASE_CREATED',
            aggregate_type: 'database',
            aggregate_id: 'shop',
            payload: { name: 'shop', description: 'the shop' },
          },
        ]);
    });

    it('refuses an existing database', () => {
      given(dbCreated)
        .when(create({ name: DB }))
        .thenError('DATABASE_EXISTS');
    });

    it('allows re-creating a deleted database', () => {
      const events = given(dbCreated, { ...dbCreated, event_type: 'DATABASE_DELETED', payload: { name: DB } })
        .when(create({ name: DB }))
        .events();
      expect(events.map((e) => e.event_type)).toEqual(['DATABASE_CREATED']);
    });

    it.each(['Shop', '1shop', 'shop/../x', '', 'a'.repeat(64), 'sh op', 'shop:x'])('refuses the name %j', (name) => {
      const error = given().when(create({ name })).thenError('INVALID_COMMAND');
      expect(error.status).toBe(400);
      expect(error.details[0].path).toBe('payload.name');
    });

    it('accepts the longest allowed name', () => {
      expect(given().when(create({ name: 'a' + 'b'.repeat(62) })).result.ok).toBe(true);
    });

    it('refuses unknown payload fields', () => {
      given()
        .when(create({ name: 'shop', owner: 'x' }))
        .thenError('INVALID_COMMAND');
    });
  });

  describe('DELETE_DATABASE', () => {
    it('deletes an existing database', () => {
      given(dbCreated)
        .when(del(DB))
        .thenEvents([{ event_type: 'DATABASE_DELETED', aggregate_type: 'database', aggregate_id: DB, payload: { name: DB } }]);
    });

    it('refuses a missing database', () => {
      given().when(del(DB)).thenError('DATABASE_NOT_FOUND');
    });

    it('refuses a deleted database', () => {
      given(dbCreated, { ...dbCreated, event_type: 'DATABASE_DELETED', payload: { name: DB } })
        .when(del(DB))
        .thenError('DATABASE_NOT_FOUND');
    });
  });

  it('refuses an unknown command type', () => {
    given().when({ command_type: 'DROP_EVERYTHING', payload: {} }).thenError('INVALID_COMMAND');
  });

  it('refuses a command that is not an object', () => {
    given().when('CREATE_DATABASE').thenError('INVALID_COMMAND');
  });
});
