/**
 * Keyset paging, one implementation for the read models' queries, the history endpoints and the
 * in-memory fakes. A page is read with one row past it, whose presence alone says there is a next
 * page; the cursor is the last key of the page, opaque to clients (base64url of a small JSON), so
 * its form may change without a client noticing. Not exported from the domain's index: workflow
 * code never pages.
 */

/** Items per page unless `?limit` says otherwise, and the most a page may hold. */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** A page key: an id, a stream version, or a tuple of columns. */
export type CursorKey = string | number | readonly string[];

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

export function encodeCursor(after: CursorKey): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url');
}

/**
 * The key a cursor carries, or undefined when it is not one encodeCursor wrote; callers check
 * the key's shape and answer with their own error.
 */
export function cursorKey(cursor: string): unknown {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) return undefined;
  try {
    return (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown } | null)?.after;
  } catch {
    return undefined;
  }
}

/** One page out of up to limit + 1 rows read after the cursor's key, in key order. */
export function pageOf<R, V = R>(rows: readonly R[], limit: number, keyOf: (row: R) => CursorKey, view: (row: R) => V = (r) => r as unknown as V): Page<V> {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return { items: page.map(view), next_cursor: more ? encodeCursor(keyOf(page[page.length - 1])) : null };
}
