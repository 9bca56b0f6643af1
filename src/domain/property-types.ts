/** Value checks per property type. Each returns the violations found, so callers can report all at once. */
import type { ErrorDetail } from './errors';
import type { PropertyDefinition, ScalarType } from './ontology-class';
import { joinPath } from './paths';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Extended ISO-8601 with a mandatory zone; seconds and fractions optional. */
const DATETIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

export function isValidDate(value: string): boolean {
  const m = DATE.exec(value);
  if (m === null) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1) return false;
  // Date.UTC with day 0 of the next month gives the last day of this month, leap years included.
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= daysInMonth;
}

export function isValidDateTime(value: string): boolean {
  const m = DATETIME.exec(value);
  if (m === null || !isValidDate(m[1])) return false;
  const [hour, minute, second] = [Number(m[2]), Number(m[3]), m[4] === undefined ? 0 : Number(m[4])];
  if (hour > 23 || minute > 59 || second > 59) return false;
  if (m[5] !== undefined && (Number(m[5]) > 23 || Number(m[6]) > 59)) return false;
  return true;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value;
}

const SCALAR_RULES: Record<ScalarType, { check: (v: unknown) => boolean; expected: string }> = {
  string: { check: (v) => typeof v === 'string', expected: 'a string' },
  integer: { check: (v) => Number.isSafeInteger(v), expected: 'an integer (safe integer range)' },
  // Beyond ±(2^53-1) every double is integral and JSON.parse has already rounded the client's digits to it.
  decimal: {
    check: (v) => typeof v === 'number' && Math.abs(v) <= Number.MAX_SAFE_INTEGER,
    expected: 'a finite number within ±(2^53-1) (larger values cannot be kept exactly: send them as a string property)',
  },
  boolean: { check: (v) => typeof v === 'boolean', expected: 'a boolean' },
  date: { check: (v) => typeof v === 'string' && isValidDate(v), expected: 'a calendar date YYYY-MM-DD' },
  datetime: {
    check: (v) => typeof v === 'string' && isValidDateTime(v),
    expected: 'an ISO-8601 date-time with zone (e.g. 2024-05-01T12:00:00Z)',
  },
  json: { check: () => true, expected: 'any JSON value' },
};

export function checkScalar(type: ScalarType, value: unknown, path: string): ErrorDetail[] {
  const rule = SCALAR_RULES[type];
  if (rule.check(value)) return [];
  const shown = typeof value === 'string' ? ` '${value.length > 40 ? value.slice(0, 40) + '…' : value}'` : '';
  return [{ path, message: `expected ${rule.expected}, got ${describe(value)}${shown}` }];
}

export function checkPropertyValue(property: PropertyDefinition, value: unknown, path: string): ErrorDetail[] {
  if (property.type !== 'array') return checkScalar(property.type, value, path);
  if (!Array.isArray(value)) {
    return [{ path, message: `expected an array of ${property.items}, got ${describe(value)}` }];
  }
  // items is guaranteed by the schema for arrays; 'json' keeps a corrupt definition permissive rather than crashing
  const items = property.items ?? 'json';
  return value.flatMap((item, index) => checkScalar(items, item, joinPath(path, index)));
}
