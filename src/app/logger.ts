/** One structured logger for every process of spice-oms (JSON lines on stdout). */
import pino from 'pino';

export function createLogger(level: string, name: string) {
  return pino({ level, name, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type Logger = ReturnType<typeof createLogger>;
