export interface Pct {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function pct(values: number[]): Pct | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(at(50)), p90: r(at(90)), p99: r(at(99)), max: r(s[s.length - 1]) };
}

export const median = (values: number[]): number => pct(values)?.p50 ?? NaN;
