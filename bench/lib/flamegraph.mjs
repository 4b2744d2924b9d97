/**
 * CPU profiles (node --cpu-prof) as flame graphs (SVG) and self-time tables, over a time
 * window only (the loaded phase, not start-up). Pure functions of the .cpuprofile JSON.
 */

/** The profile's samples inside [from, to] (µs on the monotonic clock, as process.hrtime): time per node id. */
function windowed(profile, from = -Infinity, to = Infinity) {
  const time = new Map();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t >= from && t <= to) time.set(id, (time.get(id) ?? 0) + dt);
  });
  return time;
}

const frameName = (cf) => {
  const file = cf.url ? cf.url.replace(/^file:\/\//, '').split('/').slice(-2).join('/') : '';
  return `${cf.functionName || '(anonymous)'}${file ? ` ${file}:${cf.lineNumber + 1}` : ''}`;
};

/** Where a frame's code lives, for the summary: our code, grpc-js, Node's internals, ... */
export function category(cf) {
  const url = cf.url ?? '';
  if (!url) return cf.functionName === '(garbage collector)' ? 'garbage collection' : cf.functionName === '(program)' ? 'V8/native (program)' : 'native';
  if (url.includes('@grpc/grpc-js')) return 'grpc-js';
  if (url.includes('@bufbuild/protobuf') || url.includes('/gen/')) return 'protobuf';
  if (url.includes('prom-client')) return 'prom-client';
  if (url.includes('@opentelemetry')) return 'OpenTelemetry';
  if (url.includes('node:internal/http2') || url === 'node:http2') return 'node:http2';
  if (url.includes('node:internal/streams') || url === 'node:stream') return 'node:streams';
  if (url.startsWith('node:')) return 'node (other)';
  if (url.includes('node_modules/')) return url.split('node_modules/').pop().split('/')[0];
  if (url.includes('/dist/')) return 'ours';
  return 'other';
}

/** A call tree merged by frame name, with total (inclusive) and self time. */
function tree(profile, time) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const root = { name: 'all', total: 0, self: 0, children: new Map(), cat: 'all' };
  const walk = (id, into) => {
    const n = byId.get(id);
    let t = time.get(id) ?? 0;
    const name = frameName(n.callFrame);
    if (n.callFrame.functionName === '(idle)') return 0;
    let child = into.children.get(name);
    if (!child) into.children.set(name, (child = { name, total: 0, self: 0, children: new Map(), cat: category(n.callFrame) }));
    child.self += t;
    for (const c of n.children ?? []) t += walk(c, child);
    child.total += t;
    return t;
  };
  for (const c of byId.get(profile.nodes[0].id).children ?? []) root.total += walk(c, root);
  return root;
}

const COLORS = { ours: '#4c9be8', 'grpc-js': '#e8834c', 'node:http2': '#e8b04c', 'node:streams': '#e8cf4c', protobuf: '#b07ce8', 'prom-client': '#e84c8b', OpenTelemetry: '#8be84c', 'garbage collection': '#9a9a9a', 'V8/native (program)': '#c4c4c4', native: '#d9d9d9', 'node (other)': '#f0d890' };
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** An SVG flame graph (root at the bottom) of one profile's window; frames under 0.1 % are left out. */
export function flameGraphSvg(profile, title, from, to) {
  const root = tree(profile, windowed(profile, from, to));
  const W = 1200;
  const H = 16;
  const rects = [];
  let depthMax = 0;
  const place = (node, x, depth) => {
    const w = (node.total / root.total) * W;
    if (w < W * 0.001) return;
    depthMax = Math.max(depthMax, depth);
    rects.push({ node, x, w, depth });
    let cx = x;
    for (const c of [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      place(c, cx, depth + 1);
      cx += (c.total / root.total) * W;
    }
  };
  place(root, 0, 0);
  const height = (depthMax + 1) * H + 60;
  const legend = Object.entries(COLORS)
    .map(([k, c], i) => `<rect x="${10 + (i % 6) * 195}" y="${24 + Math.floor(i / 6) * 14}" width="10" height="10" fill="${c}"/><text x="${24 + (i % 6) * 195}" y="${33 + Math.floor(i / 6) * 14}">${esc(k)}</text>`)
    .join('');
  const body = rects
    .map(({ node, x, w, depth }) => {
      const y = height - (depth + 1) * H;
      const pct = ((node.total / root.total) * 100).toFixed(2);
      const label = w > 40 ? `<text x="${(x + 3).toFixed(1)}" y="${y + 11}">${esc(node.name.slice(0, Math.floor(w / 6.5)))}</text>` : '';
      return `<g><title>${esc(node.name)} — ${pct} % (self ${((node.self / root.total) * 100).toFixed(2)} %)</title><rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(0.5, w - 0.5).toFixed(1)}" height="${H - 1}" fill="${COLORS[node.cat] ?? '#f0d890'}"/>${label}</g>`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="monospace" font-size="10">
<rect width="100%" height="100%" fill="#fff"/><text x="10" y="14" font-size="12">${esc(title)} (${(root.total / 1000).toFixed(0)} ms of CPU)</text>${legend}
${body}
</svg>
`;
}

/** Self time by category and the top functions, as fractions of the window's busy time. */
export function selfTime(profiles, from, to, top = 15) {
  const byCat = new Map();
  const byFn = new Map();
  let total = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (const [id, us] of windowed(p, from, to)) {
      const cf = byId.get(id).callFrame;
      if (cf.functionName === '(idle)') continue;
      total += us;
      byCat.set(category(cf), (byCat.get(category(cf)) ?? 0) + us);
      byFn.set(frameName(cf), (byFn.get(frameName(cf)) ?? 0) + us);
    }
  }
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / Math.max(1, total)]);
  return { totalMs: total / 1000, categories: sorted(byCat), functions: sorted(byFn).slice(0, top) };
}
