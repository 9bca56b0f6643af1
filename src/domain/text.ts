/**
 * Which characters a string may carry into the stores. PostgreSQL text and jsonb cannot hold
 * U+0000 or an unpaired surrogate: such a string, once appended to S3, can never get its ledger
 * row or read-model row, and blocks its stream. Noncharacters (U+FFFE, U+FFFF, U+FDD0-U+FDEF and
 * the last two code points of every plane) are storable but never text; they are refused with
 * them because they mostly signal a wrong decoding. Control characters are refused where the
 * text is a one-line name (labels), and outside TAB/LF/CR in descriptions; property values are
 * client data and keep their controls.
 */

export type TextKind = 'data' | 'description' | 'label';

const UNSTORABLE = /[\0\p{Cs}\p{Noncharacter_Code_Point}]/u;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this matches
const UNSTORABLE_OR_CONTROL_EXCEPT_WHITESPACE = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\p{Cs}\p{Noncharacter_Code_Point}]/u;
const UNSTORABLE_OR_CONTROL = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;

const RULES: Record<TextKind, RegExp> = {
  data: UNSTORABLE,
  description: UNSTORABLE_OR_CONTROL_EXCEPT_WHITESPACE,
  label: UNSTORABLE_OR_CONTROL,
};

/** Why the string is refused, or undefined when it may be stored as `kind`. Linear in the string. */
export function refusedCharacterOf(value: string, kind: TextKind = 'data'): string | undefined {
  const m = RULES[kind].exec(value);
  if (m === null) return undefined;
  const ch = m[0];
  const cp = ch.codePointAt(0)!;
  const at = `at index ${m.index}`;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp === 0) return `contains U+0000 (NUL) ${at}, which PostgreSQL text and jsonb cannot store`;
  if (cp >= 0xd800 && cp <= 0xdfff) return `contains an unpaired surrogate ${hex} ${at}, which is not valid Unicode and cannot be stored`;
  if (/\p{Noncharacter_Code_Point}/u.test(ch)) return `contains the noncharacter ${hex} ${at}`;
  return kind === 'label' ? `contains the control character ${hex} ${at}; labels are one line of text` : `contains the control character ${hex} ${at}`;
}
