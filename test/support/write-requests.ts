/**
 * fast-check arbitraries of HTTP requests to the write API, as a hostile or careless client sends
 * them: near-valid bodies for each route with hostile values spliced in (U+0000, lone surrogates,
 * non-characters, huge and deeply nested values, numbers no double holds), random JSON, raw bytes,
 * odd content types, hostile ids in the path and hostile or malformed headers.
 */
import fc from 'fast-check';

export interface WriteRequest {
  method: 'POST' | 'PUT' | 'DELETE';
  /** Percent-encoded, as sent on the wire (query included). */
  path: string;
  headers: Record<string, string>;
  body: Body;
}

export type Body =
  | { kind: 'none' }
  /** Serialised with JSON.stringify; then each placeholder is replaced by raw JSON text. */
  | { kind: 'json'; value: unknown; raw: Record<string, string> }
  | { kind: 'bytes'; bytes: number[] };

/** What the fixtures of the test provide: a database and a class whose properties cover each type. */
export interface Fixture {
  db: string;
  classId: string;
  /** Instances that exist, so updates and deletes meet something. */
  instanceIds: string[];
  /** Prefix for Idempotency-Keys: keys name commands across the whole Temporal namespace. */
  keyPrefix: string;
}

export const FIXTURE_PROPERTIES = [
  { name: 'name', type: 'string', required: true },
  { name: 'count', type: 'integer' },
  { name: 'price', type: 'decimal' },
  { name: 'flag', type: 'boolean' },
  { name: 'day', type: 'date' },
  { name: 'at', type: 'datetime' },
  { name: 'meta', type: 'json' },
  { name: 'tags', type: 'array', items: 'string' },
] as const;

// ---- strings ---------------------------------------------------------------------------------

const HOSTILE = [
  '\u0000',
  'a\u0000b',
  '\uD800',
  'x\uDFFFy',
  '\uDBFF\uDBFF',
  '\uFFFE',
  '\uFFFF',
  '\uFDD0',
  '\u202E',
  '\u00AD',
  '\u200B',
  '\r\n',
  '\u001B[31m',
  '..',
  '../..',
  '/',
  '%00',
  '__proto__',
  'constructor',
  '',
  ' ',
  "'; DROP TABLE x; --",
  '\\u0000',
  '😀',
  '\u{10FFFF}',
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const anyUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\uFFFE', '\uFFFF', '\u0007') },
);

/** Distinct words, so a text index has to hold all of them. */
const manyWords = (bytes: number) => Array.from({ length: Math.ceil(bytes / 8) }, (_, i) => `w${i.toString(36)}`).join(' ');

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 4, arbitrary: fc.string({ unit: anyUnit, maxLength: 16 }) },
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 3, arbitrary: fc.tuple(fc.string({ maxLength: 4 }), fc.constantFrom(...HOSTILE), fc.string({ maxLength: 4 })).map(([a, b, c]) => a + b + c) },
  { weight: 1, arbitrary: fc.constantFrom(300, 5_000, 200_000).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(1_500_000).map(manyWords) },
);

// ---- raw JSON: numbers a double cannot hold, deep nesting ------------------------------------

const RAW_NUMBERS = ['9007199254740993', '-9007199254740993', '123456789012345678901234567890', '1e400', '-1e400', '1e-400', '-0', '0.1e1', '1E+2', '4.9e-324'];

let placeholderSeq = 0;
/** A value to put anywhere in a body, plus the raw text that replaces it after serialisation. */
interface Spliced {
  value: unknown;
  raw: Record<string, string>;
}

const rawNumber: fc.Arbitrary<Spliced> = fc.constantFrom(...RAW_NUMBERS).map((text) => {
  const key = `\u00a7n${placeholderSeq++}\u00a7`;
  return { value: key, raw: { [key]: text } };
});

const deepValue: fc.Arbitrary<Spliced> = fc.tuple(fc.constantFrom(50, 1_000, 20_000, 100_000), fc.boolean()).map(([depth, arrays]) => {
  const key = `\u00a7d${placeholderSeq++}\u00a7`;
  return { value: key, raw: { [key]: arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) } };
});

const plain = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<Spliced> => arb.map((value) => ({ value, raw: {} }));

/** Any value a property or field might be sent: plausible, hostile, huge, deep or inexact. */
const anyValue: fc.Arbitrary<Spliced> = fc.oneof(
  { weight: 4, arbitrary: plain(hostileString) },
  { weight: 3, arbitrary: plain(fc.jsonValue({ maxDepth: 3 })) },
  { weight: 2, arbitrary: plain(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null))) },
  { weight: 1, arbitrary: rawNumber },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: plain(fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 })) },
);

/** Builds an object from fields, each either absent or a Spliced value, merging the raw texts. */
function objectOf(fields: Record<string, fc.Arbitrary<Spliced | undefined>>): fc.Arbitrary<Spliced> {
  return fc.record(fields).map((r) => {
    const value: Record<string, unknown> = {};
    const raw: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) {
      if (v === undefined) continue;
      value[k] = v.value;
      Object.assign(raw, v.raw);
    }
    return { value, raw };
  });
}

const optional = (arb: fc.Arbitrary<Spliced>, absent = 1, present = 3): fc.Arbitrary<Spliced | undefined> =>
  fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: present, arbitrary: arb });

// ---- what a request gets wrong ---------------------------------------------------------------

/**
 * The aspects of a request that may be hostile. Most requests get at most two of them wrong, so
 * that many pass the door and run through the worker (with strings no store expects, but legal),
 * and each refusal has one cause; a few get everything wrong at once.
 */
export const ASPECTS = ['values', 'body', 'content-type', 'headers', 'query', 'path'] as const;
export type Aspect = (typeof ASPECTS)[number];

interface Ctx {
  f: Fixture;
  hostile: ReadonlySet<Aspect>;
}

/** A valid value of the kind, or, when values are hostile, sometimes anything. */
const value = <T>(c: Ctx, valid: fc.Arbitrary<T>): fc.Arbitrary<Spliced> =>
  c.hostile.has('values') ? fc.oneof({ weight: 1, arbitrary: plain(valid) }, { weight: 2, arbitrary: anyValue }) : plain(valid);

// ---- ids -------------------------------------------------------------------------------------

const lower = 'abcdefghijklmnopqrstuvwxyz';
const alnum = lower + lower.toUpperCase() + '0123456789';
const chars = (set: string, min: number, max: number) => fc.string({ unit: fc.constantFrom(...set), minLength: min, maxLength: max });

const validDbName = fc.tuple(chars(lower, 1, 1), chars(lower + '0123456789_-', 0, 12)).map(([a, b]) => `fz${a}${b}`);
const validClassId = fc.tuple(chars(lower.toUpperCase(), 1, 1), chars(alnum + '_', 0, 12)).map(([a, b]) => a + b);
const validInstanceId = fc.tuple(chars(alnum, 1, 1), chars(alnum + '_.:-', 0, 16)).map(([a, b]) => a + b);
/** Legal text of every script, emoji and combining marks included. */
const legalText = (max: number) => fc.string({ unit: 'grapheme', minLength: 1, maxLength: max });

/** Path segments as sent on the wire that no id rule allows, percent-encoded or raw. */
const RAW_SEGMENTS = ['%00', '%ED%A0%80', '%C0%AF', '%2F', '..', '%2e%2e', '%', '%zz', 'a%0Ab', '%F0%9F%98%80', '%EF%BF%BF', 'x'.repeat(3000), 'A'.repeat(129)];
const hostileSegment = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...RAW_SEGMENTS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map(encodeURIComponent) },
);

const segment = (c: Ctx, fixed: fc.Arbitrary<string>, valid: fc.Arbitrary<string>) =>
  c.hostile.has('path') ? fc.oneof(fixed, valid.map(encodeURIComponent), hostileSegment) : fc.oneof({ weight: 6, arbitrary: fixed }, { weight: 1, arbitrary: valid.map(encodeURIComponent) });

// ---- bodies per route ------------------------------------------------------------------------

const propertyValues = (c: Ctx) =>
  objectOf({
    name: optional(value(c, legalText(20)), 1, 12),
    count: optional(value(c, fc.integer())),
    price: optional(value(c, fc.double({ min: -1e9, max: 1e9, noNaN: true }))),
    flag: optional(value(c, fc.boolean())),
    day: optional(
      value(
        c,
        fc.date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
      ),
    ),
    at: optional(
      value(
        c,
        fc.date({ noInvalidDate: true, min: new Date('1970-01-01'), max: new Date('2100-01-01') }).map((d) => d.toISOString()),
      ),
    ),
    meta: optional(value(c, fc.jsonValue({ maxDepth: 3 }))),
    tags: optional(value(c, fc.array(legalText(12), { maxLength: 5 }))),
    ...(c.hostile.has('values') ? { unknown_prop: optional(anyValue, 3, 1) } : {}),
  });

/** An update's properties: new values, or null to remove one (the required one included). */
const propertyChanges = (c: Ctx) =>
  fc.oneof({ weight: 3, arbitrary: propertyValues(c) }, { weight: 1, arbitrary: fc.constantFrom('name', 'count', 'tags', 'meta').map((n): Spliced => ({ value: { [n]: null }, raw: {} })) });

const relationships = (c: Ctx) =>
  optional(value(c, fc.dictionary(fc.constant('knows'), fc.oneof(fc.constantFrom(...c.f.instanceIds), fc.array(fc.constantFrom(...c.f.instanceIds), { maxLength: 3 })), { maxKeys: 1 })), 3, 1);

const instanceBody = (c: Ctx, withId: boolean) =>
  objectOf({
    ...(withId ? { id: optional(value(c, fc.oneof({ weight: 3, arbitrary: validInstanceId }, { weight: 1, arbitrary: fc.constantFrom(...c.f.instanceIds) })), 1, 3) } : {}),
    properties: optional(withId ? propertyValues(c) : propertyChanges(c), 1, 12),
    relationships: relationships(c),
  });

const propertyDefinition = (c: Ctx) =>
  value(
    c,
    fc.record({
      name: validClassId.map((n) => n.toLowerCase()),
      type: fc.constantFrom('string', 'integer', 'decimal', 'boolean', 'date', 'datetime', 'json'),
      required: fc.boolean(),
    }),
  );

const classBody = (c: Ctx) =>
  objectOf({
    id: value(c, validClassId),
    label: value(c, legalText(20)),
    description: optional(value(c, legalText(60))),
    properties: optional(
      fc.uniqueArray(propertyDefinition(c), { maxLength: 4, selector: (p) => JSON.stringify((p.value as { name?: unknown })?.name) }).map((ps) => ({
        value: ps.map((p) => p.value),
        raw: Object.assign({}, ...ps.map((p) => p.raw)) as Record<string, string>,
      })),
      1,
      4,
    ),
    relationships: optional(plain(fc.constant([])), 1, 4),
  });

const updateClassBody = (c: Ctx) =>
  objectOf({
    label: optional(value(c, legalText(20))),
    description: optional(value(c, legalText(60))),
    abstract: optional(value(c, fc.constant(false))),
  });

const databaseBody = (c: Ctx) => objectOf({ name: value(c, validDbName), description: optional(value(c, legalText(60))) });

const bulkBody = (c: Ctx) =>
  fc.array(instanceBody(c, true), { maxLength: 6 }).map((items) => ({
    value: { instances: items.map((i) => i.value) },
    raw: Object.assign({}, ...items.map((i) => i.raw)) as Record<string, string>,
  }));

const rawBytes = fc.oneof(
  fc.constantFrom('', '{', '{"a":1', 'null', '[]', '"str"', '\uFEFF{}', '{"a":1}{"b":2}', 'NaN', '{"a":"\\ud800"}', '{"a":"\\u0000"}').map((t) => [...Buffer.from(t)]),
  fc.uint8Array({ maxLength: 64 }).map((a) => [...a]),
  fc.constant<number[]>([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
);

/** The route's own body, or, when the body is hostile, any JSON, raw bytes or nothing. */
function bodyFor(c: Ctx, own: fc.Arbitrary<Spliced>): fc.Arbitrary<Body> {
  const json = own.map((sp): Body => ({ kind: 'json', value: sp.value, raw: sp.raw }));
  if (!c.hostile.has('body')) return json;
  return fc.oneof(
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v): Body => ({ kind: 'json', value: v, raw: {} })) },
    { weight: 2, arbitrary: rawBytes.map((bytes): Body => ({ kind: 'bytes', bytes })) },
    { weight: 1, arbitrary: fc.constant<Body>({ kind: 'none' }) },
    { weight: 1, arbitrary: anyValue.map((sp): Body => ({ kind: 'json', value: sp.value, raw: sp.raw })) },
  );
}

// ---- headers ---------------------------------------------------------------------------------

/** What Node's HTTP client lets through in a header value: tab, printable ASCII and Latin-1. */
const headerText = (max: number) =>
  fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }), fc.constant(0x09)).map((ch) => String.fromCharCode(ch)), maxLength: max });

const CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'application/json; charset=UTF-16',
  'application/json; charset=latin1',
  'application/problem+json',
  'application/merge-patch+json',
  'APPLICATION/JSON',
  'application/json;',
  'application/jsonx',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '*/*',
];

const maybe = (name: string, arb: fc.Arbitrary<string>, absent = 2) =>
  fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb }).map((v) => (v === undefined ? {} : { [name]: v }));

function headersFor(c: Ctx): fc.Arbitrary<Record<string, string>> {
  const h = c.hostile.has('headers');
  // A small pool of keys as well: resubmissions, and keys reused with another body.
  const key = h ? fc.oneof(fc.uuid(), headerText(40), fc.constant('k'.repeat(5000))) : fc.oneof(fc.uuid(), fc.constantFrom('k1', 'k2', 'k3'));
  return fc
    .tuple(
      c.hostile.has('content-type') ? fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined }) : fc.constant('application/json'),
      // Keys name commands across the whole Temporal namespace: this run's prefix keeps them apart.
      maybe(
        'idempotency-key',
        key.map((k) => `${c.f.keyPrefix}${k}`),
      ),
      maybe('x-actor', h ? fc.oneof(headerText(40), fc.constant('a'.repeat(2000))) : fc.constant('alice@example.com')),
      maybe('if-match', h ? fc.constantFrom('0', '-1', '99999999999999999999', '2147483648', '"abc"', '*', 'W/"1"', ' 1 ', '1, 2') : fc.constantFrom('1', '"1"', '2', '"3"'), 4),
      maybe('prefer', h ? fc.constantFrom('wait=0', 'wait=99999999', 'respond-async', 'wait=-1', 'wait=abc', 'wait=5, wait=1') : fc.constant('wait=5'), 1),
      maybe('x-request-id', h ? headerText(300) : fc.uuid()),
    )
    .map(([ct, ...rest]) => Object.assign(ct === undefined ? {} : { 'content-type': ct }, ...rest) as Record<string, string>);
}

const queryFor = (c: Ctx) =>
  c.hostile.has('query') ? fc.constantFrom('?wait=maybe', '?x=1', '?wait=true&wait=false', '?wait[]=1', '?wait=%00', '?force=yes') : fc.constantFrom('', '', '?wait=true', '?wait=false');

// ---- requests --------------------------------------------------------------------------------

function requestWith(c: Ctx): fc.Arbitrary<WriteRequest> {
  const { f } = c;
  const db = segment(c, fc.constant(f.db), validDbName);
  const cls = segment(c, fc.constant(f.classId), validClassId);
  const inst = segment(c, fc.constantFrom(...f.instanceIds), validInstanceId);
  const q = queryFor(c);
  const base = '/api/v1/databases';
  const none = { kind: 'none' as const };

  const routes: fc.Arbitrary<Omit<WriteRequest, 'headers'>>[] = [
    fc.tuple(bodyFor(c, databaseBody(c)), q).map(([body, qs]) => ({ method: 'POST' as const, path: `${base}${qs}`, body })),
    // Never the fixture's own database or class: every run after would meet a deleted one.
    fc.tuple(c.hostile.has('path') ? hostileSegment : validDbName, q).map(([d, qs]) => ({ method: 'DELETE' as const, path: `${base}/${d}${qs}`, body: none })),
    fc.tuple(db, bodyFor(c, classBody(c)), q).map(([d, body, qs]) => ({ method: 'POST' as const, path: `${base}/${d}/classes${qs}`, body })),
    fc.tuple(db, cls, bodyFor(c, updateClassBody(c)), q).map(([d, k, body, qs]) => ({ method: 'PUT' as const, path: `${base}/${d}/classes/${k}${qs}`, body })),
    fc
      .tuple(db, c.hostile.has('path') ? hostileSegment : validClassId.filter((k) => k !== f.classId), q)
      .map(([d, k, qs]) => ({ method: 'DELETE' as const, path: `${base}/${d}/classes/${k}${qs}`, body: none })),
    fc.tuple(db, cls, bodyFor(c, instanceBody(c, true)), q).map(([d, k, body, qs]) => ({ method: 'POST' as const, path: `${base}/${d}/classes/${k}/instances${qs}`, body })),
    fc.tuple(db, cls, bodyFor(c, bulkBody(c)), q).map(([d, k, body, qs]) => ({ method: 'POST' as const, path: `${base}/${d}/classes/${k}/instances:bulk${qs}`, body })),
    fc.tuple(db, cls, inst, bodyFor(c, instanceBody(c, false)), q).map(([d, k, i, body, qs]) => ({ method: 'PUT' as const, path: `${base}/${d}/classes/${k}/instances/${i}${qs}`, body })),
    // Deletes of the fixture's instances are rarer than updates, which then meet them deleted or re-created.
    fc
      .tuple(db, cls, c.hostile.has('path') ? inst : fc.oneof({ weight: 4, arbitrary: validInstanceId }, { weight: 1, arbitrary: fc.constantFrom(...f.instanceIds) }), q)
      .map(([d, k, i, qs]) => ({ method: 'DELETE' as const, path: `${base}/${d}/classes/${k}/instances/${i}${qs}`, body: none })),
  ];
  return fc.tuple(fc.oneof(...routes), headersFor(c)).map(([r, headers]) => ({ ...r, headers }));
}

/** Requests with at most two hostile aspects, and now and then one with all of them. */
export function writeRequests(f: Fixture): fc.Arbitrary<WriteRequest> {
  return fc.oneof(
    { weight: 9, arbitrary: fc.subarray([...ASPECTS], { maxLength: 2 }).chain((h) => requestWith({ f, hostile: new Set(h) })) },
    { weight: 1, arbitrary: requestWith({ f, hostile: new Set(ASPECTS) }) },
  );
}

/** The bytes on the wire. */
export function bodyBytes(body: Body): Buffer | undefined {
  if (body.kind === 'none') return undefined;
  if (body.kind === 'bytes') return Buffer.from(body.bytes);
  let text = JSON.stringify(body.value) ?? 'null';
  for (const [key, raw] of Object.entries(body.raw)) text = text.split(JSON.stringify(key)).join(raw);
  return Buffer.from(text, 'utf8');
}

/** A short, printable account of a request for failure messages (huge values abbreviated). */
export function describeRequest(r: WriteRequest): string {
  const bytes = bodyBytes(r.body);
  const text =
    bytes === undefined
      ? '(no body)'
      : bytes.length > 600
        ? `${bytes.subarray(0, 300).toString('utf8')} ...(${bytes.length} bytes)... ${bytes.subarray(-100).toString('utf8')}`
        : bytes.toString('utf8');
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.length > 100 ? `${v.slice(0, 100)}...(${v.length})` : v]));
  const path = r.path.length > 300 ? `${r.path.slice(0, 300)}...(${r.path.length})` : r.path;
  return `${r.method} ${path} ${JSON.stringify(headers)} ${JSON.stringify(text)}`;
}
