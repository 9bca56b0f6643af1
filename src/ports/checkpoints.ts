/** Named positions of long-running scans (the reconciler's place in the event store's date index), kept across runs. */
export interface CheckpointStore {
  load(name: string): Promise<string | undefined>;
  save(name: string, checkpoint: string): Promise<void>;
}
