/** Crypto-shredding without services: which values are sealed, how they open, and erasure once a key is gone. */
import { AesPersonalDataCipher, CommandBodyCipher, commandBodySubject } from '../../../src/adapters/personal-data-cipher';
import { ERASED, isSealed, type ClassCatalog } from '../../../src/domain';
import { MemorySubjectKeys as MemoryKeys } from '../../support/memory-subject-keys';

const classes: ClassCatalog = {
  Base: { id: 'Base', label: 'Base', abstract: true, properties: [{ name: 'email', type: 'string', required: false, personal: true }], relationships: [] },
  Person: { id: 'Person', label: 'Person', parent_class: 'Base', abstract: false, properties: [{ name: 'age', type: 'integer', required: false }], relationships: [] },
};
const created = (id: string, properties: Record<string, unknown>) => ({
  event_type: 'INSTANCE_CREATED',
  payload: { db_name: 'shop', db_incarnation: 1, instance: { id, class_id: 'Person', properties, relationships: {} } },
});
const propsOf = (e: { payload: unknown }) => (e.payload as { instance: { properties: Record<string, unknown> } }).instance.properties;

describe('the personal-data cipher', () => {
  it('given a class with an inherited personal property, when an event is sealed, then only that value is sealed and it opens again', async () => {
    const keys = new MemoryKeys();
    const cipher = new AesPersonalDataCipher(keys);
    const event = created('alice', { email: 'a@example.com', age: 3 });
    const [sealed] = await cipher.seal([event], classes);
    expect(propsOf(event)).toEqual({ email: 'a@example.com', age: 3 }); // the input is not changed
    expect(isSealed(propsOf(sealed).email)).toBe(true);
    expect(propsOf(sealed).age).toBe(3);
    expect(JSON.stringify(sealed)).not.toContain('a@example.com');
    expect([...keys.keys.keys()]).toEqual(['shop:alice']);
    const [opened] = await cipher.open([sealed]);
    expect(propsOf(opened)).toEqual({ email: 'a@example.com', age: 3 });
  });

  it('when the subject is forgotten, then its values read as erased, and a key made again later does not open them', async () => {
    const keys = new MemoryKeys();
    const cipher = new AesPersonalDataCipher(keys);
    const [sealed] = await cipher.seal([created('alice', { email: 'a@example.com' })], classes);
    await keys.forget('shop:alice');
    expect(propsOf((await cipher.open([sealed]))[0]).email).toEqual(ERASED);
    await cipher.seal([created('alice', { email: 'new@example.com' })], classes);
    expect(propsOf((await cipher.open([sealed]))[0]).email).toEqual(ERASED);
  });

  it('a sealed value moved to another subject or property does not open', async () => {
    const cipher = new AesPersonalDataCipher(new MemoryKeys());
    const [a] = await cipher.seal([created('alice', { email: 'a@example.com' })], classes);
    const [b] = await cipher.seal([created('bob', { email: 'b@example.com' })], classes);
    const forged = created('bob', { email: propsOf(a).email });
    expect(propsOf((await cipher.open([forged]))[0]).email).toEqual(ERASED);
    expect(propsOf((await cipher.open([b]))[0]).email).toBe('b@example.com');
  });

  it('events without personal values pass untouched, with no key made', async () => {
    const keys = new MemoryKeys();
    const cipher = new AesPersonalDataCipher(keys);
    const event = created('carol', { age: 5, email: null });
    expect(await cipher.seal([event], classes)).toEqual([event]);
    expect(keys.keys.size).toBe(0);
    expect((await cipher.open([event]))[0]).toBe(event);
  });
});

describe('command bodies kept in S3', () => {
  const body = { command_type: 'BULK_CREATE_INSTANCES', db_name: 'shop', payload: { class_id: 'Person', instances: [{ id: 'p1', properties: { email: 'p1@example.com' } }] } };

  test('a body is sealed whole under its own command key, opens back, and reads as gone once the key is forgotten', async () => {
    const keys = new MemoryKeys();
    const bodies = new CommandBodyCipher(keys);
    const sealed = await bodies.seal('cmd-1', body);
    expect(isSealed(sealed)).toBe(true);
    expect(JSON.stringify(sealed)).not.toContain('p1@example.com');
    expect([...keys.keys.keys()]).toEqual([commandBodySubject('cmd-1')]);
    expect(await bodies.open('cmd-1', sealed)).toEqual(body);
    // The command id is the associated data: a body copied under another command does not open.
    await bodies.seal('cmd-2', {});
    expect(await bodies.open('cmd-2', sealed)).toBeUndefined();
    expect(await bodies.forget('cmd-1')).toBe(true);
    expect(await bodies.open('cmd-1', sealed)).toBeUndefined();
    expect(await bodies.forget('cmd-1')).toBe(false);
  });

  test('a streamed body has each item sealed on its own, bound to its place; it opens whole, and not at all once the key is gone or an item moved', async () => {
    const keys = new MemoryKeys();
    const bodies = new CommandBodyCipher(keys);
    const seal = await bodies.itemSealer('cmd-1');
    const items = [
      { id: 'p1', properties: { email: 'p1@example.com' } },
      { id: 'p2', properties: { email: 'p2@example.com' } },
    ];
    const stored = { ...body, payload: { class_id: 'Person', instances: items.map((item, i) => seal(i, JSON.stringify(item))) } };
    expect(JSON.stringify(stored)).not.toMatch(/p[12]@example\.com/);
    expect(await bodies.open('cmd-1', stored)).toEqual({ ...body, payload: { class_id: 'Person', instances: items } });
    const swapped = { ...stored, payload: { ...stored.payload, instances: [...stored.payload.instances].reverse() } };
    expect(await bodies.open('cmd-1', swapped)).toBeUndefined();
    await bodies.forget('cmd-1');
    expect(await bodies.open('cmd-1', stored)).toBeUndefined();
  });

  test('a body stored before sealing existed is read as it is', async () => {
    expect(await new CommandBodyCipher(new MemoryKeys()).open('cmd-1', body)).toEqual(body);
  });
});
