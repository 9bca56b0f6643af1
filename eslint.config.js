/**
 * ESLint flat config. `npm run lint` runs it with Prettier's check; `npm test` lints first.
 * CommonJS like the rest of the repo's tooling, so test/unit/lint-boundaries.unit.test.ts can require it.
 *
 * The boundaries rule keeps the imports of src/ one way (see README, "Layout"):
 *   app -> api / activities / workflows -> ports / contracts -> domain
 *   adapters -> ports / contracts / domain
 * lib/ holds generic helpers any layer may use and imports nothing of ours. consumer-kit/ is a library
 * for consumer processes (its own and other teams'): it composes the adapters, and only app/ imports it.
 * Nothing but app/ imports api/ or adapters/; workflows import activities for their types only
 * (`import type`), so no activity code is bundled into the workflow sandbox; src/ never imports
 * test/, bench/ or scripts/, which may import anything.
 */
const { defineConfig } = require('eslint/config');
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const boundaries = require('eslint-plugin-boundaries');
const prettier = require('eslint-config-prettier');

/** Layer -> the layers it may import (its own files always; lib/ always: small generic helpers that import nothing of ours). */
const LAYERS = {
  lib: [],
  domain: [],
  contracts: ['domain'],
  ports: ['contracts', 'domain'],
  workflows: ['contracts', 'domain'],
  activities: ['ports', 'contracts', 'domain'],
  adapters: ['ports', 'contracts', 'domain'],
  api: ['ports', 'contracts', 'domain'],
  // A client library for other teams' consumer processes: it composes the Kafka, S3 and PostgreSQL adapters itself.
  'consumer-kit': ['adapters', 'ports', 'contracts', 'domain'],
  app: ['api', 'activities', 'workflows', 'adapters', 'consumer-kit', 'ports', 'contracts', 'domain'],
};
const element = (type) => ({ to: { element: { type } } });

module.exports = defineConfig(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'bench/results/**', '.stack/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // A `_` prefix marks a name unused on purpose (a property left out of a rest copy, an ignored parameter).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests and the benchmark read untyped JSON (HTTP bodies, Temporal histories) and poke at internals;
    // `any` there says so honestly. Production code (src/) keeps the rule.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs', '**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' }, // CommonJS on purpose (bootstrap runs before any install)
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': [...Object.keys(LAYERS).map((type) => ({ type, pattern: `src/${type}` })), { type: 'tooling', pattern: ['test', 'bench', 'scripts'] }],
      'import/resolver': { node: { extensions: ['.ts', '.js', '.json'] } },
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          policies: [
            ...Object.entries(LAYERS).map(([type, allowed]) => ({
              from: { element: { type } },
              allow: [...new Set([type, 'lib', ...allowed])].map(element),
            })),
            { from: { element: { type: 'workflows' } }, allow: { ...element('activities'), dependency: { kind: 'type' } } },
            { from: { element: { type: 'tooling' } }, allow: [...Object.keys(LAYERS), 'tooling'].map(element) },
          ],
        },
      ],
      // Every file under src/ belongs to a layer, so a new folder cannot slip past the rule above.
      'boundaries/no-unknown-files': 'error',
    },
  },
  {
    // ...and src/ imports nothing outside the layers (root files such as worker.ts are entry points).
    files: ['src/**/*.ts'],
    rules: { 'boundaries/no-unknown-dependencies': 'error' },
  },
  prettier,
);
