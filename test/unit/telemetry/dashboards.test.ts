import { loadDashboards, panelQueries, substitute } from '../../helpers/dashboards';

describe('Grafana dashboards', () => {
  const dashboards = loadDashboards();

  it('has the ring, routing, storage and runtime dashboards with unique uids', () => {
    expect(dashboards.map((d) => d.dashboard.uid).sort()).toEqual(['pastry-ring', 'pastry-routing', 'pastry-runtime', 'pastry-storage']);
  });

  it.each(dashboards.map((d) => [d.file, d.dashboard] as const))('%s: current schema, datasource/namespace/pod variables', (_file, d) => {
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
    const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
    expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.namespace?.type).toBe('query');
    expect(vars.pod?.type).toBe('query');
  });

  it('every query filters on namespace and pod and uses $__rate_interval in rate()', () => {
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThan(40);
    for (const q of queries) {
      expect(`${q.dashboard}/${q.panel}: ${q.expr}`).toMatch(/namespace="\$namespace"/);
      expect(`${q.dashboard}/${q.panel}: ${q.expr}`).toMatch(/pod=~"\$pod"/);
      for (const m of q.expr.matchAll(/\b(rate|increase)\([^[]*\[([^\]]+)\]/g)) {
        expect(`${q.dashboard}/${q.panel}: ${m[2]}`).toMatch(/\$__(rate_interval|range)$/);
      }
    }
  });

  it('every panel target points at the $datasource variable', () => {
    for (const { dashboard } of dashboards) {
      for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
        expect((p as { datasource?: { uid?: string } }).datasource?.uid).toBe('${datasource}');
      }
    }
  });

  it('substitutes Grafana variables as a local ring has them', () => {
    expect(substitute('rate(x{namespace="$namespace", pod=~"$pod"}[$__rate_interval])')).toBe('rate(x{namespace="local", pod=~".*"}[15s])');
  });
});
