/**
 * Service outages for tests: a stack service is paused (SIGSTOP) and resumed (SIGCONT) by the pid
 * the stack manager recorded. Pausing keeps ports and data as they are, so recovery is immediate,
 * and a paused service answers nothing, which is the harder case for clients than a refused connection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { testConfig } from './env';

type Service = 'kafka' | 'minio' | 'postgres' | 'temporal';

const paused = new Set<number>();

export function servicePid(service: Service): number {
  const file = path.join(testConfig.SPICE_CACHE_DIR, 'run', `${service}.pid`);
  const pid = Number(JSON.parse(fs.readFileSync(file, 'utf8')).pid);
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no ${service} pid in ${file}`);
  return pid;
}

export function pauseService(service: Service): void {
  const pid = servicePid(service);
  process.kill(pid, 'SIGSTOP');
  paused.add(pid);
}

export function resumeAll(): void {
  for (const pid of paused) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  paused.clear();
}

// Whatever happens to a test, a shared service must not stay frozen.
process.once('exit', resumeAll);
