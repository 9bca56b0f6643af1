/**
 * One-line summaries the Temporal Web UI shows for a command's run and its activities, e.g.
 * "UPDATE_INSTANCE library/ada". Pure and deterministic: workflow code uses them too. Temporal
 * keeps a summary to 200 bytes, so long ids are cut.
 */
import type { CommandInput } from '../domain';

const MAX_SUMMARY_BYTES = 200;
// TextEncoder, not Buffer: the workflow sandbox has no Node globals.
const bytes = (s: string): number => new TextEncoder().encode(s).length;

/** `database/local id` of the command's target (the database alone for database commands). */
export function commandTarget(command: Pick<CommandInput, 'command_type'> & { db_name?: string; batch_id?: string; payload?: unknown }, instanceCount?: number): string {
  const payload = (command.payload ?? {}) as { name?: unknown; id?: unknown; class_id?: unknown; instances?: unknown[] };
  if (command.db_name === undefined) return typeof payload.name === 'string' ? payload.name : '';
  if (command.command_type === 'BULK_CREATE_INSTANCES') {
    const count = instanceCount ?? (Array.isArray(payload.instances) ? payload.instances.length : undefined);
    const n = count !== undefined ? `${count} instances of ` : '';
    return `${command.db_name}/${n}${typeof payload.class_id === 'string' ? payload.class_id : ''}`.replace(/\/$/, '');
  }
  return typeof payload.id === 'string' ? `${command.db_name}/${payload.id}` : command.db_name;
}

export function commandSummary(commandType: string, target: string): string {
  return truncate(target ? `${commandType} ${target}` : commandType);
}

/** Cut to the byte limit on a character boundary, marking the cut. */
export function truncate(text: string, maxBytes = MAX_SUMMARY_BYTES): string {
  if (bytes(text) <= maxBytes) return text;
  let out = '';
  for (const ch of text) {
    if (bytes(out + ch) > maxBytes - 3) break;
    out += ch;
  }
  return `${out}...`;
}
