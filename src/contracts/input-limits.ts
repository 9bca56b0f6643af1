/** What the API refuses before a command is built; see README "Input limits". */
export interface InputLimits {
  /** Nesting of objects and arrays in a body (the body itself is level 1). */
  maxBodyDepth: number;
  /** UTF-16 code units of one string inside an instance's property values. */
  maxStringLength: number;
  maxPropertiesPerInstance: number;
  maxPredicatesPerInstance: number;
  /** Relationship target ids in one request, over all its instances and predicates. */
  maxIdsPerRequest: number;
}
