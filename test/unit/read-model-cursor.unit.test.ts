import { ReadModelError, decodeCursor, encodeCursor, isReadModelError } from '../../src/adapters/postgres/read-models';
import { cursorKey, DEFAULT_PAGE_LIMIT, encodeCursor as sharedEncode, MAX_PAGE_LIMIT, pageOf } from '../../src/domain/paging';

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

describe('the one paging module (src/domain/paging.ts)', () => {
  test('a page of up to limit + 1 rows: the extra row only says there is more, the cursor carries the last key shown', () => {
    const rows = [{ v: 1 }, { v: 2 }, { v: 3 }];
    const page = pageOf(
      rows,
      2,
      (r) => r.v,
      (r) => `#${r.v}`,
    );
    expect(page.items).toEqual(['#1', '#2']);
    expect(cursorKey(page.next_cursor!)).toBe(2);
    expect(pageOf(rows, 3, (r) => r.v)).toEqual({ items: rows, next_cursor: null });
  });

  test('the read models, the history endpoints and the fakes share its cursors and limits', () => {
    expect(encodeCursor('acme')).toBe(sharedEncode('acme'));
    expect(decodeCursor(sharedEncode('acme'))).toBe('acme');
    expect(cursorKey(encodeCursor(['in', 'knows', 'a', 'b']))).toEqual(['in', 'knows', 'a', 'b']);
    expect({ DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT }).toEqual({ DEFAULT_PAGE_LIMIT: 100, MAX_PAGE_LIMIT: 1000 });
    for (const bad of ['', '%%', 'A'.repeat(3000), Buffer.from('not json').toString('base64url')]) expect(cursorKey(bad)).toBeUndefined();
  });
});
