/** Reading Prometheus text exposition in tests: which metric families are served, and sample values. */

/** Metric names a PromQL text mentions (ours, the SDK's and the HTTP ones: their prefixes). */
export function metricNamesIn(text: string): string[] {
  return [...new Set(text.match(/\b(?:spice|temporal|http)_[a-z0-9_]+\b/g) ?? [])].sort();
}

/** Whether the exposition serves the name, as a family (# TYPE) or as one of its samples. */
export function serves(exposition: string, name: string): boolean {
  const family = name.replace(/_(bucket|count|sum)$/, '');
  const lines = exposition.split('\n');
  return lines.some((l) => l.startsWith(`# TYPE ${name} `) || l.startsWith(`# TYPE ${family} `) || l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

/** The sum of a metric's samples whose labels include all of `labels`. */
export function sampleSum(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
  }
  return sum;
}
