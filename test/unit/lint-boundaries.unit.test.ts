/**
 * The import-direction rule in eslint.config.js must actually fire: each case lints a small snippet
 * placed as if it were a file of a layer (nothing is written) and expects the rule's verdict. Imports
 * point at real files, picked from the tree, because the rule classifies what an import resolves to.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the config is CommonJS and untyped; required here because ESLint's own loader uses import(), which Jest's VM does not provide
const config = require('../../eslint.config.js');

/** Some .ts file under `dir` (relative to the repo root), as an import path without extension, from `fromDir`. */
function someModule(dir: string, fromDir: string): string {
  const walk = (d: string): string | undefined => {
    for (const e of fs.readdirSync(path.join(root, d), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = path.join(d, e.name);
      if (e.isDirectory()) {
        const found = walk(rel);
        if (found) return found;
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) return rel;
    }
    return undefined;
  };
  const file = walk(dir);
  if (!file) throw new Error(`no .ts file under ${dir}`);
  const spec = path.relative(fromDir, file).replace(/\.ts$/, '');
  return spec.startsWith('.') ? spec : `./${spec}`;
}

const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: config });

/** Rule ids reported for `source` linted as if it were the file `filePath`. */
async function ruleIds(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: path.join(root, filePath) });
  return result.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`);
}

/** A file of `layer` importing `what` (a value import unless `typeOnly`). */
async function importing(layer: string, targetDir: string, typeOnly = false): Promise<string[]> {
  const from = `src/${layer}/lint-probe.ts`;
  const spec = someModule(targetDir, path.dirname(from));
  return ruleIds(from, `import ${typeOnly ? 'type ' : ''}* as target from '${spec}';\nexport type Target = typeof target;\n`);
}

describe('import directions (boundaries/dependencies)', () => {
  it.each([
    ['domain', 'src/api'],
    ['domain', 'src/adapters'],
    ['workflows', 'src/adapters'],
    ['activities', 'src/api'],
    ['adapters', 'src/api'],
    ['api', 'src/adapters'],
    ['app', 'test/support'],
    ['contracts', 'src/ports'],
    ['ports', 'src/adapters'],
    ['api', 'src/workflows'],
    ['lib', 'src/domain'],
  ])('refuses src/%s importing %s', async (layer, target) => {
    expect(await importing(layer, target)).toContain('boundaries/dependencies');
  });

  it('lets workflows import activity types, not activity code', async () => {
    expect(await importing('workflows', 'src/activities', true)).toEqual([]);
    expect(await importing('workflows', 'src/activities')).toContain('boundaries/dependencies');
  });

  it.each([
    ['api', 'src/domain'],
    ['activities', 'src/domain'],
    ['adapters', 'src/domain'],
    ['app', 'src/api'],
    ['app', 'src/adapters'],
    ['adapters', 'src/lib'],
    ['workflows', 'src/contracts'],
  ])('allows src/%s importing %s', async (layer, target) => {
    expect(await importing(layer, target)).toEqual([]);
  });

  it('lets tests import any layer', async () => {
    const from = 'test/unit/lint-probe.unit.test.ts';
    const spec = someModule('src/adapters', path.dirname(from));
    expect(await ruleIds(from, `import * as target from '${spec}';\nexport type Target = typeof target;\n`)).toEqual([]);
  });

  it('refuses a file under src/ outside every layer', async () => {
    expect(await ruleIds('src/elsewhere/lint-probe.ts', 'export const x = 1;\n')).toContain('boundaries/no-unknown-files');
  });
});

describe('disabled rules', () => {
  it('every eslint-disable comment says why (`-- reason`)', () => {
    // Built from parts so that this file's own source does not count as a directive.
    const directive = new RegExp('(//|/\\*)\\s*eslint-' + 'disable');
    const explained = new RegExp('eslint-' + 'disable(-next-line|-line)?\\s+\\S+.*\\s--\\s+\\S');
    const unexplained: string[] = [];
    const visit = (d: string) => {
      for (const e of fs.readdirSync(path.join(root, d), { withFileTypes: true })) {
        const rel = path.join(d, e.name);
        if (e.isDirectory()) visit(rel);
        else if (/\.(ts|js|cjs)$/.test(e.name))
          fs.readFileSync(path.join(root, rel), 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if (directive.test(line) && !explained.test(line)) unexplained.push(`${rel}:${i + 1}`);
            });
      }
    };
    for (const d of ['src', 'test', 'bench', 'scripts']) visit(d);
    expect(unexplained).toEqual([]);
  });
});
