/** The benchmark's two pictures: a latency CDF (log x axis) and a hop-count histogram. */
import { Canvas } from './png.mjs';

const GRID = '#e0e0e0';
const AXIS = '#333333';

function frame(c, left, top, right, bottom, title) {
  c.text(c.width / 2, 12, title, AXIS, 2, 'center');
  c.line(left, bottom, right, bottom, AXIS, 2);
  c.line(left, top, left, bottom, AXIS, 2);
}

function legend(c, series, x, y) {
  series.forEach((s, i) => {
    c.fillRect(x, y + i * 22 + 4, 18, 8, s.color);
    c.text(x + 26, y + i * 22, s.label, AXIS, 2);
  });
}

/** series: [{label, color, sorted: ascending latencies in ms}] */
export function latencyCdf(series, title) {
  const c = new Canvas(1200, 540);
  const [left, top, right, bottom] = [80, 60, 880, 470];
  const all = series.flatMap((s) => s.sorted).filter((x) => x > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))));
  const x = (ms) => left + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (right - left);
  // Tail-expanding scale: 0.9, 0.99 and 0.999 are evenly spaced, as in HdrHistogram plots.
  const tail = (q) => -Math.log10(1 - Math.min(q, 0.999));
  const y = (q) => bottom - (tail(q) / 3) * (bottom - top);
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    c.line(x(d), top, x(d), bottom, GRID);
    c.text(x(d), bottom + 10, d >= 1 ? String(d) : String(Number(d.toPrecision(1))), AXIS, 2, 'center');
  }
  for (const q of [0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]) {
    c.line(left, y(q), right, y(q), GRID);
    c.text(left - 8, y(q) - 7, String(q), AXIS, 2, 'right');
  }
  frame(c, left, top, right, bottom, title);
  c.text((left + right) / 2, bottom + 36, 'latency, ms (log scale)', AXIS, 2, 'center');
  c.text(left + 8, top - 22, 'percentile', AXIS, 2);
  for (const s of series) {
    const n = s.sorted.length;
    const step = Math.max(1, Math.floor(n / 800));
    const points = [];
    for (let i = 0; i < n; i += step) points.push([x(s.sorted[i]), y((i + 0.5) / n)]);
    points.push([x(s.sorted[n - 1]), y((n - 0.5) / n)]);
    c.polyline(points, s.color, 3);
  }
  legend(c, series, right + 20, top + 10);
  return c.toPNG();
}

/** groups: [{label, color, hops: number[]}]: fraction of routes per hop count, side by side. */
export function hopHistogram(groups, title) {
  const c = new Canvas(960, 540);
  const [left, top, right, bottom] = [80, 50, 930, 470];
  const maxHops = Math.max(...groups.flatMap((g) => g.hops));
  const fractions = groups.map((g) => Array.from({ length: maxHops + 1 }, (_, h) => g.hops.filter((x) => x === h).length / g.hops.length));
  const top1 = Math.min(1, Math.ceil(Math.max(...fractions.flat()) * 10) / 10);
  const y = (f) => bottom - (f / top1) * (bottom - top);
  for (let f = 0; f <= top1 + 1e-9; f += 0.1) {
    c.line(left, y(f), right, y(f), GRID);
    c.text(left - 8, y(f) - 7, `${Math.round(f * 100)}%`, AXIS, 2, 'right');
  }
  frame(c, left, top, right, bottom, title);
  const slot = (right - left) / (maxHops + 1);
  const barW = (slot * 0.8) / groups.length;
  for (let h = 0; h <= maxHops; h++) {
    c.text(left + slot * (h + 0.5), bottom + 10, String(h), AXIS, 2, 'center');
    groups.forEach((g, i) => {
      const x0 = left + slot * h + slot * 0.1 + i * barW;
      c.fillRect(x0, y(fractions[i][h]), barW - 2, bottom - y(fractions[i][h]), g.color);
      if (fractions[i][h] > 0) c.text(x0 + barW / 2, y(fractions[i][h]) - 18, `${Math.round(fractions[i][h] * 100)}%`, AXIS, 2, 'center');
    });
  }
  c.text((left + right) / 2, bottom + 36, 'forwarding hops from the entry node to the root', AXIS, 2, 'center');
  legend(c, groups, right - 260, top + 10);
  return c.toPNG();
}
