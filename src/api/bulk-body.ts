/**
 * A bulk body read as it arrives: the JSON is tokenised chunk by chunk, each element of
 * `instances` is checked (body inspection, then the item schema) and handed over as soon as it is
 * complete, so the API never holds the whole body or its parsed form (100,000 instances held
 * whole, with their copies, took the API to 502 MB). The answers are those of the parsed path:
 * the same codes, paths and messages, the same limits (API_BODY_LIMIT, UTF-8, depth, strings,
 * target ids over the whole request), and the first bad item stops the read.
 */
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Request } from 'express';
import { TokenParser, TokenType, Tokenizer } from '@streamparser/json';
import { z } from 'zod';
import { MAX_BULK_INSTANCES, requestSchemas } from '../domain/commands';
import type { InputLimits } from '../contracts/input-limits';
import type { StreamedItems } from '../ports/command-gateway';
import { BodyInspector, bodyProblem } from './body-inspection';
import { problem, ProblemError } from './problem';
import { issuesToErrors, withPathField } from './validation';

const requestSchema = requestSchemas.BULK_CREATE_INSTANCES;
const itemSchema = requestSchema.shape.instances.element;
const countSchema = z.array(z.unknown()).min(1).max(MAX_BULK_INSTANCES);
/** The body less its items: checked once the body has been read. */
const topSchema = requestSchema.extend({ instances: z.array(z.unknown()).max(0) });

export interface BulkBodyOptions {
  classId: string;
  limits: InputLimits;
  bodyLimitBytes: number;
  newId: () => string;
}

export function streamedBulkItems(req: Request, o: BulkBodyOptions): StreamedItems {
  return { streamed: true, class_id: o.classId, writeItems: (write) => readItems(req, o, write) };
}

function validationFailed(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[]) {
  const errors = issuesToErrors(issues, prefix);
  return problem('VALIDATION_FAILED', `the request body has ${errors.length} problem(s)`, { errors });
}

/** What body-parser would decode: the same encodings and charset, the rest refused alike. */
function decodedBody(req: Request, bodyLimitBytes: number): AsyncIterable<Buffer> {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(String(req.headers['content-type'] ?? ''))?.[1]?.toLowerCase();
  if (charset !== undefined && !charset.startsWith('utf-')) throw problem('UNSUPPORTED_MEDIA_TYPE', `unsupported charset "${charset.toUpperCase()}"`);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const length = Number(req.headers['content-length']);
  if (encoding === 'identity' && length > bodyLimitBytes) throw problem('PAYLOAD_TOO_LARGE', `the body exceeds the limit of ${bodyLimitBytes} bytes`);
  const inflate = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress, identity: undefined }[encoding];
  if (inflate === undefined && encoding !== 'identity') throw problem('UNSUPPORTED_MEDIA_TYPE', `unsupported content encoding "${encoding}"`);
  return inflate ? req.pipe(inflate()) : req;
}

async function readItems(req: Request, o: BulkBodyOptions, write: (itemJson: string) => Promise<void>): Promise<number> {
  const inspector = new BodyInspector(o.limits);
  const seen = new Set<string>();
  let count = 0;

  const tokenizer = new Tokenizer();
  // Every element of instances, each dropped from the parser once handed over (keepStack false).
  const items = new TokenParser({ paths: ['$.instances.*'], keepStack: false });
  // The body with instances emptied: its other members, checked at the end.
  const rest = new TokenParser({ paths: ['$'], keepStack: true });
  let pending: unknown[] = [];
  let top: unknown;
  items.onValue = ({ value }) => void (inInstances && pending.push(value));
  rest.onValue = ({ value }) => void (top = value);

  // Where the tokens are: the depth, and at depth 1 the key whose value comes next.
  let depth = 0;
  let expectKey = false;
  let key: string | undefined;
  let inInstances = false;
  let instancesSeen = false;
  tokenizer.onToken = (t) => {
    items.write(t);
    const opens = t.token === TokenType.LEFT_BRACE || t.token === TokenType.LEFT_BRACKET;
    const closes = t.token === TokenType.RIGHT_BRACE || t.token === TokenType.RIGHT_BRACKET;
    if (inInstances) {
      if (opens) depth++;
      else if (closes && --depth === 1) {
        inInstances = false;
        rest.write(t);
      }
      return;
    }
    if (depth === 1 && expectKey && t.token === TokenType.STRING) {
      key = t.value as string;
      expectKey = false;
    } else if (depth === 1 && key === 'instances' && t.token === TokenType.LEFT_BRACKET) {
      // JSON.parse would keep the last of two; a stream cannot take back the first one's items.
      if (instancesSeen) throw problem('VALIDATION_FAILED', 'the request body has 1 problem(s)', { errors: [{ path: 'instances', message: 'appears more than once' }] });
      instancesSeen = inInstances = true;
    } else if (depth === 1 && t.token === TokenType.COMMA) {
      expectKey = true;
      key = undefined;
    }
    if (opens) depth++;
    else if (closes) depth--;
    if (depth === 1 && t.token === TokenType.LEFT_BRACE) expectKey = true;
    rest.write(t);
  };

  const check = (value: unknown, index: number): string => {
    const issues = inspector.inspectElement('instances', index, value);
    if (issues.length > 0) throw bodyProblem(issues);
    const parsed = itemSchema.safeParse(value);
    if (!parsed.success) throw validationFailed(parsed.error.issues, ['instances', index]);
    const id = parsed.data.id ?? o.newId();
    if (seen.has(id)) throw problem('VALIDATION_FAILED', 'the request body has 1 problem(s)', { errors: [{ path: `instances[${index}].id`, message: `duplicate instance id '${id}'` }] });
    seen.add(id);
    // The command's own item schema, as its output would be: id first, defaults applied.
    return JSON.stringify({ id, properties: parsed.data.properties, relationships: parsed.data.relationships });
  };

  const decoder = new TextDecoder('utf-8', { fatal: true });
  const feed = async (text: string): Promise<void> => {
    try {
      if (text.length > 0) tokenizer.write(text);
    } catch (err) {
      if (err instanceof ProblemError) throw err; // ours, from onToken
      throw problem('MALFORMED_JSON', 'the body is not valid JSON');
    }
    const ready = pending;
    pending = [];
    for (const value of ready) {
      if (count === MAX_BULK_INSTANCES) throw validationFailed(countSchema.safeParse(new Array(count + 1)).error!.issues, ['instances']);
      await write(check(value, count++));
    }
  };

  let bytes = 0;
  try {
    for await (const chunk of decodedBody(req, o.bodyLimitBytes)) {
      bytes += chunk.length;
      if (bytes > o.bodyLimitBytes) throw problem('PAYLOAD_TOO_LARGE', `the body exceeds the limit of ${o.bodyLimitBytes} bytes`);
      let text: string;
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch {
        throw problem('MALFORMED_JSON', 'the body is not valid UTF-8');
      }
      await feed(text);
    }
    try {
      await feed(decoder.decode());
      tokenizer.end();
    } catch (err) {
      if (err instanceof ProblemError) throw err;
      throw problem('MALFORMED_JSON', 'the body is not valid JSON');
    }
  } catch (err) {
    // What is left of the body is read and dropped, so the client gets the answer, not a reset;
    // the connection is not reused after a body left half read.
    if (!req.complete) req.res?.setHeader('Connection', 'close');
    req.resume();
    if (err instanceof ProblemError) throw err;
    throw problem('MALFORMED_JSON', 'the body could not be read');
  }
  if (top === undefined) throw problem('MALFORMED_JSON', 'the body is empty');

  // The members other than instances, as the parsed path checks the whole body.
  const issues = inspector.inspect(top, undefined, '');
  if (issues.length > 0) throw bodyProblem(issues);
  const parsedTop = topSchema.safeParse(withPathField(top, 'class_id', o.classId));
  if (!parsedTop.success) throw validationFailed(parsedTop.error.issues, []);
  if (count === 0) throw validationFailed(countSchema.safeParse([]).error!.issues, ['instances']);
  return count;
}
