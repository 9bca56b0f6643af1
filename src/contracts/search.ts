/** What the search maintenance workflows carry between their steps (workflow inputs and activity results). */

export interface GenerationPlan {
  db: string;
  incarnation: number;
  /** The live index (what the alias points at). */
  source: string;
  /** The new generation being filled. */
  target: string;
}

export interface CopyPage {
  copied: number;
  /** Documents the target already held at this or a newer version. */
  stale: number;
  /** search_after key of the next page, or null when the copy is done. */
  next: string | null;
}

export interface IndexComparison {
  db: string;
  live: string;
  rebuilt: string;
  live_count: number;
  rebuilt_count: number;
  missing_in_live: number;
  missing_in_rebuilt: number;
  /** Documents in both whose versions differ. */
  different_versions: number;
  equal: boolean;
}
