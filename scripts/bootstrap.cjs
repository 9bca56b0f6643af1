#!/usr/bin/env node
/**
 * Makes `npm start` / `npm test` work on a fresh clone: installs the locked dependencies when
 * node_modules is missing or older than package-lock.json, then runs the given steps in order.
 * Plain CommonJS on purpose: it runs before any dependency (tsx, typescript) is installed.
 *
 *   node scripts/bootstrap.cjs <step> [<step> ...]   where a step is a shell command line
 *   node scripts/bootstrap.cjs --args <step> [arg ...]   one step, given the args of `npm run x -- args`
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');

function sh(cmd) {
  const r = spawnSync(cmd, { cwd: root, stdio: 'inherit', shell: true, env: process.env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!fs.existsSync(marker) || fs.statSync(marker).mtimeMs < fs.statSync(lock).mtimeMs) {
  const t = Date.now();
  console.log('[bootstrap] installing npm dependencies (npm ci) ...');
  sh('npm ci --no-audit --no-fund --loglevel=error');
  console.log(`[bootstrap] npm dependencies installed in ${((Date.now() - t) / 1000).toFixed(1)}s`);
}
const argv = process.argv.slice(2);
const quote = (a) => `'${a.replace(/'/g, `'\\''`)}'`;
const steps = argv[0] === '--args' ? [[argv[1], ...argv.slice(2).map(quote)].join(' ')] : argv;
for (const step of steps) sh(step);
