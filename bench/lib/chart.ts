/** A dependency-free SVG chart: throughput and p99 submit->COMPLETED latency against concurrency, one line per path. */
export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(title: string, yLabel: string, series: Series[], ox: number, w: number, h: number, logY: boolean): string {
  const m = { l: 60, r: 10, t: 30, b: 40 };
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter((y) => y > 0);
  if (!xs.length || !ys.length) return '';
  const lx = (x: number) => Math.log2(x);
  const x0 = lx(xs[0]);
  const x1 = Math.max(lx(xs[xs.length - 1]), x0 + 1);
  const yMax = Math.max(...ys);
  const yMin = logY ? Math.min(...ys) : 0;
  const ly0 = logY ? Math.floor(Math.log10(yMin)) : 0;
  const ly1 = logY ? Math.ceil(Math.log10(yMax)) : 0;
  const top = logY ? 0 : niceMax(yMax);
  const px = (x: number) => ox + m.l + ((lx(x) - x0) / (x1 - x0)) * (w - m.l - m.r);
  const py = (y: number) => m.t + (h - m.t - m.b) * (1 - (logY ? (Math.log10(Math.max(y, 10 ** ly0)) - ly0) / Math.max(1, ly1 - ly0) : y / top));
  const out: string[] = [];
  out.push(`<text x="${ox + w / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  const ticks = logY ? Array.from({ length: ly1 - ly0 + 1 }, (_, i) => 10 ** (ly0 + i)) : Array.from({ length: 5 }, (_, i) => (top * i) / 4);
  for (const t of ticks) {
    out.push(`<line x1="${ox + m.l}" x2="${ox + w - m.r}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`);
    out.push(`<text x="${ox + m.l - 5}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const x of xs) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${m.t}" y2="${h - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${h - m.b + 15}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${ox + (w + m.l) / 2}" y="${h - 8}" text-anchor="middle">concurrency (clients)</text>`);
  out.push(`<text transform="translate(${ox + 14},${(h + m.t - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => p.y > 0 || !logY).sort((a, b) => a.x - b.x);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${c}"/>`);
  });
  return out.join('\n');
}

function niceMax(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * e >= v) return k * e;
  return 10 * e;
}
const fmt = (v: number) => (v >= 1000 ? `${v / 1000}k` : v >= 1 ? String(Math.round(v * 10) / 10) : String(v));

export function chartSvg(title: string, throughput: Series[], p99: Series[]): string {
  const W = 460;
  const H = 300;
  const legend = throughput
    .map((s, i) => `<rect x="${20 + i * 170}" y="${H + 8}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${36 + i * 170}" y="${H + 19}">${esc(s.name)}</text>`)
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 50}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
${panel('throughput (commands/s)', 'commands/s', throughput, 0, W, H, false)}
${panel('p99 submit -> COMPLETED (ms, log)', 'ms', p99, W, W, H, true)}
${legend}
<text x="${W * 2 - 10}" y="${H + 44}" text-anchor="end" fill="#666">${esc(title)}</text>
</svg>
`;
}
