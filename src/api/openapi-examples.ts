/**
 * Examples in the OpenAPI document, shown by the docs page (/api/v1/docs): a request body for each
 * command and a problem answer for each error code. test/unit/api-docs.unit.test.ts parses every
 * body example with its route's schema, so an example cannot drift from what the API accepts.
 */
import type { CommandType } from '../domain';
import { problemTypeOf, statusOfCode, titleOf, type ProblemCode } from './problem';

type Json = Record<string, unknown>;

/** Request bodies per command type (commands without a body, the deletes, have none). */
export const BODY_EXAMPLES: Partial<Record<CommandType, { summary: string; value: Json }>> = {
  CREATE_DATABASE: { summary: 'A database', value: { name: 'library', description: 'books and people' } },
  CREATE_ONTOLOGY_CLASS: {
    summary: 'A class with two properties and a relationship',
    value: {
      id: 'Person',
      label: 'Person',
      properties: [
        { name: 'name', type: 'string', required: true },
        { name: 'born', type: 'date' },
      ],
      relationships: [{ predicate: 'knows', target_class: 'Person', cardinality: 'n:m' }],
    },
  },
  UPDATE_ONTOLOGY_CLASS: { summary: 'New label and description', value: { label: 'Human', description: 'A person in the catalogue' } },
  CREATE_INSTANCE: { summary: 'An instance with a relationship', value: { id: 'ada', properties: { name: 'Ada Lovelace', born: '1815-12-10' }, relationships: { knows: ['babbage'] } } },
  UPDATE_INSTANCE: { summary: 'Change a property, remove a relationship', value: { properties: { name: 'Augusta Ada King' }, relationships: { knows: null } } },
  BULK_CREATE_INSTANCES: {
    summary: 'Two instances in one command',
    value: {
      instances: [
        { id: 'babbage', properties: { name: 'Charles Babbage' } },
        { id: 'somerville', properties: { name: 'Mary Somerville' } },
      ],
    },
  },
};

/** One example answer per problem code, keyed `problem-<CODE>` in components.examples. */
export function problemExamples(codes: readonly ProblemCode[]): Record<string, Json> {
  const examples: Record<string, Json> = {};
  for (const code of codes) {
    examples[exampleKey(code)] = {
      summary: `${statusOfCode(code)} ${code}`,
      value: {
        type: problemTypeOf(code),
        title: titleOf(code),
        status: statusOfCode(code),
        code,
        detail: `what went wrong, in the words of spice-oms (${titleOf(code).toLowerCase()})`,
        instance: '/api/v1/databases/library/classes/Person/instances',
        request_id: '3f1c2d7e-5b0a-4b8e-9a61-0d2f4c6e8a10',
        ...(code === 'VALIDATION_FAILED' ? { errors: [{ path: 'properties.name', message: 'required property missing', code: 'VALIDATION_FAILED' }] } : {}),
        ...(code === 'VERSION_CONFLICT' ? { current_version: 4 } : {}),
      },
    };
  }
  return examples;
}

export const exampleKey = (code: string): string => `problem-${code}`;
