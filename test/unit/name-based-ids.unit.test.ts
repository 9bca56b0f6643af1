// Ids derived from names are stored (workflow ids, event ids, ledger rows): a refactor must not change them.
import { commandIdForKey } from '../../src/app/command-gateway';
import { eventIdFor } from '../../src/contracts/event-envelope';
import { nameBasedUuid } from '../../src/lib/name-based-uuid';

test('command ids per Idempotency-Key stay what earlier versions issued', () => {
  expect(['a', 'key-1', 'Ünïcode', ''].map(commandIdForKey)).toEqual([
    'ad4183ba-d5b1-5b22-a943-5e6841be3a34',
    '6821a703-3048-5670-a010-8c49b7f8997d',
    'db4edd22-1f8d-579b-aba9-4a4d3bff2486',
    '9ced2660-4460-5316-a815-3c5dcc87148f',
  ]);
});

test('event ids and derived instance ids stay what earlier versions issued', () => {
  expect(['a', 'key-1'].map((k) => eventIdFor(k, 0))).toEqual(['29d821be-a8da-5a4c-b40f-39be2728ab64', '8d26e1cd-f185-53ea-8a30-80923ad12aed']);
  expect(nameBasedUuid('spice-oms:instance-id:db:Ünïcode:0')).toBe('be34c3bd-927d-5044-8762-5c3a7e0ec97d');
});
