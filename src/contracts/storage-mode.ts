/** Where events go during the migration (DESIGN.md "Storage modes"); recorded in each workflow input and event. */
export type StorageMode = 'legacy' | 'dual_write' | 's3_only';

export function storageModeOf(enableS3: boolean, dualWrite: boolean): StorageMode {
  if (!enableS3) return 'legacy';
  return dualWrite ? 'dual_write' : 's3_only';
}
