/**
 * What workflow code reports to its worker process without a workflow command: sink calls are not
 * recorded in the history and are not made during replay, so they change nothing for determinism.
 */
import type { Sinks } from '@temporalio/workflow';

export interface CommandSinks extends Sinks {
  commandMetrics: {
    /** The run ended: counted in spice_commands_total{command_type,status}. */
    finished(commandType: string, status: 'COMPLETED' | 'FAILED'): void;
  };
}
