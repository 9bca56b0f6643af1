import { ReadModelError, decodeCursor, encodeCursor, isReadModelError } from '../../src/adapters/read-models';

describe('read-model page cursors', () => {
  test('round-trip any instance id as an opaque base64url token', () => {
    for (const id of ['a', 'p00001', 'x:y.z-1_2', 'Ünïcödé']) {
      const cursor = encodeCursor(id);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(cursor)).toBe(id);
    }
  });

  test.each(['', '%%', 'bm90LWpzb24', Buffer.from('{"after":1}').toString('base64url'), Buffer.from('{"after":""}').toString('base64url'), 'A'.repeat(3000)])(
    'refuses bad cursor #%# with INVALID_QUERY',
    (bad) => {
      let caught: unknown;
      try {
        decodeCursor(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ReadModelError);
      expect(isReadModelError(caught, 'INVALID_QUERY')).toBe(true);
    },
  );
});
