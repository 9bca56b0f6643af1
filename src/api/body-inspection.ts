/**
 * One pass over a parsed request body, before any schema sees it, for what no schema states well:
 * nesting depth, characters the stores cannot hold, numbers JSON.parse has already rounded,
 * over-long property strings, reserved keys and the size of an instance's maps.
 *
 * The walk is iterative (a body nested 100,000 deep cannot overflow the stack) and linear: each
 * node is visited once and keeps only a link to its parent, so a path is built only for the few
 * nodes that are reported. It stops at the first node deeper than the limit, which bounds the work
 * on a hostile body to the limit, not to the body's depth.
 */
import type { InputLimits } from '../contracts/input-limits';
import type { ErrorDetail } from '../domain/errors';
import { formatPath } from '../domain/paths';
import { refusedCharacterOf, type TextKind } from '../domain/text';
import { problem, type ProblemCode, type ProblemError } from './problem';

/** Codes in the order they win when one body has issues of several kinds. */
const PRECEDENCE = ['BODY_TOO_DEEP', 'UNSTORABLE_STRING', 'UNSAFE_NUMBER', 'STRING_TOO_LONG', 'TOO_MANY_ITEMS', 'VALIDATION_FAILED'] as const;
export type BodyIssueCode = (typeof PRECEDENCE)[number];

export interface BodyIssue extends ErrorDetail {
  code: BodyIssueCode;
}

const MAX_ISSUES = 20;

/** A container on the walk's stack; scalars are checked where they are met and never get one. */
interface Node {
  value: object;
  parent: Node | undefined;
  key: string | number;
  depth: number;
  /** Inside an instance's property values: client data. */
  data: boolean;
  /** Inside an instance's relationships map: every string is a target id. */
  targets: boolean;
}

function pathOf(parent: Node | undefined, key?: string | number): string {
  const keys: Array<string | number> = key === undefined ? [] : [key];
  for (let n = parent; n !== undefined && n.parent !== undefined; n = n.parent) keys.push(n.key);
  return formatPath(keys.reverse());
}

function reverseFrom<T>(items: T[], from: number): void {
  for (let i = from, j = items.length - 1; i < j; i++, j--) [items[i], items[j]] = [items[j], items[i]];
}

/** The first MAX_ISSUES issues found, in the walk's order; empty when the body passes. */
export function inspectBody(body: unknown, limits: InputLimits): BodyIssue[] {
  return new BodyInspector(limits).inspect(body, undefined, '');
}

/**
 * The walk of one request. A body read as a stream (a bulk) is inspected element by element with
 * one inspector: each element is walked as the whole body's walk would meet it (same paths and
 * depths), and the per-request count of relationship target ids runs over all of them.
 */
export class BodyInspector {
  private targetIds = 0;

  constructor(private readonly limits: InputLimits) {}

  /** `element` at `arrayKey[index]` of a body that is an object: what inspectBody would report for it. */
  inspectElement(arrayKey: string, index: number, element: unknown): BodyIssue[] {
    const body: Node = { value: {}, parent: undefined, key: '', depth: 1, data: false, targets: false };
    return this.inspect(element, { value: [], parent: body, key: arrayKey, depth: 2, data: false, targets: false }, index);
  }

  inspect(root: unknown, rootParent: Node | undefined, rootKey: string | number): BodyIssue[] {
    const limits = this.limits;
    const issues: BodyIssue[] = [];
    const report = (code: BodyIssueCode, parent: Node | undefined, key: string | number | undefined, message: string) => {
      issues.push({ code, path: pathOf(parent, key), message });
    };
    const stack: Node[] = [];

    /** Checks a scalar at once, or queues a container; `parent` undefined is the body itself. */
    const visit = (value: unknown, parent: Node | undefined, key: string | number, data: boolean, targets: boolean): void => {
      if (typeof value === 'string') {
        const kind: TextKind = data ? 'data' : key === 'label' ? 'label' : 'description';
        const refused = refusedCharacterOf(value, kind);
        if (refused !== undefined) report('UNSTORABLE_STRING', parent, key, refused);
        else if (data && value.length > limits.maxStringLength) {
          report('STRING_TOO_LONG', parent, key, `is ${value.length} characters long; the limit is ${limits.maxStringLength}`);
        }
        if (targets && ++this.targetIds === limits.maxIdsPerRequest + 1) {
          report('TOO_MANY_ITEMS', parent, key, `more than ${limits.maxIdsPerRequest} relationship target ids in one request`);
        }
      } else if (typeof value === 'number') {
        if (!Number.isFinite(value)) report('UNSAFE_NUMBER', parent, key, 'is beyond the range of a 64-bit float');
        else if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
          report('UNSAFE_NUMBER', parent, key, `is beyond ±(2^53-1) and cannot be kept exactly (read as ${value}); send it as a string`);
        }
      } else if (typeof value === 'object' && value !== null) {
        stack.push({ value, parent, key, depth: parent === undefined ? 1 : parent.depth + 1, data, targets });
      }
    };

    visit(root, rootParent, rootKey, false, false);
    while (stack.length > 0 && issues.length < MAX_ISSUES) {
      const node = stack.pop()!;
      if (node.depth > limits.maxBodyDepth) {
        // The one issue worth reporting: the rest of a hostile body is not looked at.
        return [{ code: 'BODY_TOO_DEEP', path: pathOf(node), message: `nesting deeper than ${limits.maxBodyDepth} levels` }];
      }
      const value = node.value;
      // Children are visited in document order, so scalars are reported in that order; the
      // containers they queued are turned round, so the stack pops them in that order too.
      const queuedFrom = stack.length;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) visit(value[i], node, i, node.data, node.targets);
        reverseFrom(stack, queuedFrom);
        continue;
      }
      const keys = Object.keys(value);
      const instanceMap = !node.data && !node.targets && node.parent !== undefined && (node.key === 'properties' || node.key === 'relationships');
      const properties = instanceMap && node.key === 'properties';
      const relationships = instanceMap && node.key === 'relationships';
      if (properties && keys.length > limits.maxPropertiesPerInstance) {
        report('TOO_MANY_ITEMS', node, undefined, `${keys.length} properties; at most ${limits.maxPropertiesPerInstance} per instance`);
      }
      if (relationships && keys.length > limits.maxPredicatesPerInstance) {
        report('TOO_MANY_ITEMS', node, undefined, `${keys.length} relationship predicates; at most ${limits.maxPredicatesPerInstance} per instance`);
      }
      const data = node.data || properties;
      const targets = node.targets || relationships;
      for (const key of keys) {
        if (key === '__proto__') {
          // JSON.parse keeps it as an own key, but copying the object (as zod does) drops it or swaps a prototype.
          report('VALIDATION_FAILED', node, key, "'__proto__' is not allowed as a key");
          continue;
        }
        const refused = refusedCharacterOf(key, data ? 'data' : 'label');
        if (refused !== undefined) report('UNSTORABLE_STRING', node, key, `the key ${refused}`);
        visit((value as Record<string, unknown>)[key], node, key, data, targets);
      }
      reverseFrom(stack, queuedFrom);
    }
    // One node may add several at once (an array of bad strings): the answer lists MAX_ISSUES.
    return issues.slice(0, MAX_ISSUES);
  }
}

/** The problem a body's issues are answered with: the code of the most serious kind, every issue listed. */
export function bodyProblem(issues: readonly BodyIssue[]): ProblemError {
  const code: ProblemCode = PRECEDENCE.find((c) => issues.some((i) => i.code === c)) ?? 'VALIDATION_FAILED';
  const detail: Record<BodyIssueCode, string> = {
    BODY_TOO_DEEP: 'the request body is nested too deeply',
    UNSTORABLE_STRING: 'the request body contains characters that cannot be stored',
    UNSAFE_NUMBER: 'the request body contains numbers that cannot be kept exactly',
    STRING_TOO_LONG: 'the request body contains a property string over the length limit',
    TOO_MANY_ITEMS: 'the request body has more items than a request may carry',
    VALIDATION_FAILED: `the request body has ${issues.length} problem(s)`,
  };
  return problem(code, detail[code as BodyIssueCode], { errors: [...issues] });
}
