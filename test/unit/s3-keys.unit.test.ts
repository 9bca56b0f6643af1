import { MAX_SEGMENT, S3KeyLayout, datePartOf, decodeSegment, encodeSegment, isHashedSegment, normalizePrefix, versionSegment } from '../../src/adapters/s3/s3-keys';

const HOSTILE = [
  '../x',
  '..',
  '.',
  '/',
  '//',
  'a/b',
  '../../../etc/passwd',
  '%2e%2e%2f',
  '~2F',
  '~~',
  'a\u0000b',
  '\r\n\t',
  '\u007f',
  'é',
  'e\u0301',
  '日本語',
  '🙂',
  '\\..\\',
  ' ',
  '?#&=+*',
  'A'.repeat(1024),
  '/'.repeat(1024),
  '🙂'.repeat(300),
  `${'x'.repeat(40)}/../${'y'.repeat(1000)}`,
];

describe('encodeSegment', () => {
  it.each(HOSTILE.map((h) => [JSON.stringify(h).slice(0, 40), h]))('%s stays one safe segment', (_label, raw) => {
    const seg = encodeSegment(raw);
    expect(seg).toMatch(/^[A-Za-z0-9_~-]+$/);
    expect(seg).not.toContain('/');
    expect(seg).not.toContain('.');
    expect(seg.length).toBeLessThanOrEqual(MAX_SEGMENT + 2 + 64);
  });

  it('keeps safe ids readable and escapes everything else reversibly', () => {
    expect(encodeSegment('Person_42-x')).toBe('Person_42-x');
    expect(encodeSegment('../x')).toBe('~2E~2E~2Fx');
    expect(encodeSegment('~')).toBe('~7E');
    expect(encodeSegment('é')).toBe('~C3~A9');
    for (const raw of HOSTILE.filter((h) => !isHashedSegment(encodeSegment(h)))) {
      expect(decodeSegment(encodeSegment(raw))).toBe(raw);
    }
  });

  it('is injective on distinct inputs (including look-alikes of escapes)', () => {
    const inputs = [...HOSTILE, '~2E', '.', '~7E2E', 'e\u0301', 'é', 'a', 'A', 'a~', 'a~~'];
    const encoded = new Set(inputs.map(encodeSegment));
    expect(encoded.size).toBe(new Set(inputs).size);
  });

  it('hashes long ids into a bounded, distinct, marked segment', () => {
    const a = encodeSegment('a'.repeat(1024));
    const b = encodeSegment(`${'a'.repeat(1023)}b`);
    expect(isHashedSegment(a)).toBe(true);
    expect(a).not.toBe(b);
    expect(a.startsWith('a'.repeat(64))).toBe(true);
    expect(decodeSegment(a)).toBeUndefined();
    // the cut never splits an escape
    const s = encodeSegment('/'.repeat(1024));
    expect(s.split('~~')[0]).toMatch(/^(?:~[0-9A-F]{2})*$/);
    // exactly at the limit stays plain
    expect(isHashedSegment(encodeSegment('z'.repeat(MAX_SEGMENT)))).toBe(false);
    expect(isHashedSegment(encodeSegment('z'.repeat(MAX_SEGMENT + 1)))).toBe(true);
  });

  it('refuses empty segments and invalid encodings on decode', () => {
    expect(() => encodeSegment('')).toThrow();
    expect(decodeSegment('a/b')).toBeUndefined();
    expect(decodeSegment('~ZZ')).toBeUndefined();
    expect(decodeSegment('~FF')).toBeUndefined(); // not UTF-8
  });
});

describe('S3KeyLayout', () => {
  const layout = new S3KeyLayout('tests/run-1');
  const stream = { aggregate_type: '../Type', aggregate_id: '../../../../etc' };

  it('builds the documented keys under the prefix', () => {
    const s = { aggregate_type: 'Instance', aggregate_id: 'db1_p-1' };
    expect(layout.streamIndexKey(s, 7)).toBe('tests/run-1/indexes/by-aggregate/Instance/db1_p-1/00000000000000000007.json');
    expect(layout.eventKey(s, 'e-1', '2025-12-31T23:59:59.900Z')).toBe('tests/run-1/events/2025/12/31/Instance/db1_p-1/e-1.json');
    expect(layout.dateIndexKey('e-1', '2026-01-01T00:00:00.100Z')).toBe('tests/run-1/indexes/by-date/2026/01/01/1767225600100_e-1.json');
    expect(layout.versionOfIndexKey(layout.streamIndexKey(s, 123))).toBe(123);
  });

  it('keeps hostile ids inside the stream prefix and every key below 1024 bytes', () => {
    for (const id of HOSTILE) {
      const s = { aggregate_type: id, aggregate_id: id };
      const keys = [layout.streamIndexKey(s, 1), layout.eventKey(s, id, '2026-01-01T00:00:00Z'), layout.dateIndexKey(id, '2026-01-01T00:00:00Z')];
      for (const k of keys) {
        expect(k.startsWith('tests/run-1/')).toBe(true);
        expect(Buffer.byteLength(k)).toBeLessThan(1024);
        expect(k.split('/')).not.toContain('..');
        expect(k).not.toMatch(/[^A-Za-z0-9_~./-]/);
      }
      expect(layout.streamIndexKey(s, 1).startsWith(layout.streamIndexPrefix(s))).toBe(true);
      expect(layout.streamIndexKey(s, 1).slice(layout.streamIndexPrefix(s).length)).toBe('00000000000000000001.json');
    }
    expect(layout.streamIndexPrefix(stream)).toBe('tests/run-1/indexes/by-aggregate/~2E~2E~2FType/~2E~2E~2F~2E~2E~2F~2E~2E~2F~2E~2E~2Fetc/');
  });

  it('separates streams whose ids share a prefix', () => {
    const a = layout.streamIndexPrefix({ aggregate_type: 'T', aggregate_id: 'a' });
    const b = layout.streamIndexPrefix({ aggregate_type: 'T', aggregate_id: 'a/b' });
    expect(b.startsWith(a)).toBe(false);
  });

  it('orders date keys by time across days, months and years', () => {
    const ts = ['2025-12-31T23:59:59.900Z', '2026-01-01T00:00:00.100Z', '2026-01-31T23:59:59.999Z', '2026-02-01T00:00:00Z', '2027-01-01T00:00:00Z'];
    const keys = ts.map((t) => layout.dateIndexKey('e', t));
    expect([...keys].sort()).toEqual(keys);
  });

  it('uses UTC dates and refuses bad timestamps, versions and prefixes', () => {
    expect(datePartOf('2026-01-01T00:30:00+01:00')).toMatchObject({ yyyy: '2025', mm: '12', dd: '31' });
    for (const bad of ['', 'yesterday', '2026-01-01', '2026-01-01T00:00:00', '1969-12-31T23:59:59Z']) expect(() => datePartOf(bad)).toThrow();
    expect(versionSegment(1)).toBe('00000000000000000001');
    for (const v of [0, -1, 1.5, Number.NaN]) expect(() => versionSegment(v)).toThrow();
    expect(normalizePrefix('')).toBe('');
    expect(normalizePrefix('a/b')).toBe('a/b/');
    for (const p of ['../x', '/abs', 'a//b', 'a/../b', 'a b', 'x/./y']) expect(() => normalizePrefix(p)).toThrow();
  });

  it('validates checkpoints', () => {
    const cp = layout.relative(layout.dateIndexKey('e-1', '2026-01-01T00:00:00Z'));
    expect(layout.checkpointKey(cp)).toBe(`tests/run-1/${cp}`);
    expect(() => layout.checkpointKey('../../x')).toThrow();
    expect(() => layout.checkpointKey('indexes/by-aggregate/x/y/00000000000000000001.json')).toThrow();
  });
});
