import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const DASHBOARD_DIR = path.resolve(__dirname, '../../grafana/dashboards');

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

interface Panel {
  title?: string;
  type?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

export function loadDashboards(): { file: string; dashboard: Dashboard }[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(path.join(DASHBOARD_DIR, file), 'utf8')) as Dashboard }));
}

function flatten(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...flatten(p.panels ?? [])]);
}

/** Every PromQL expression of every panel of every dashboard. */
export function panelQueries(): PanelQuery[] {
  return loadDashboards().flatMap(({ file, dashboard }) =>
    flatten(dashboard.panels).flatMap((p) => (p.targets ?? []).filter((t) => t.expr).map((t) => ({ dashboard: file, panel: p.title ?? '', refId: t.refId ?? '', expr: t.expr! }))),
  );
}

/** Grafana's variables as a local ring has them: namespace "local", every pod. */
export function substitute(expr: string, vars: { namespace?: string; pod?: string; rateInterval?: string; range?: string } = {}): string {
  return expr
    .replace(/\$\{?namespace\}?/g, vars.namespace ?? 'local')
    .replace(/\$\{?pod\}?/g, vars.pod ?? '.*')
    .replace(/\$\{?__rate_interval\}?/g, vars.rateInterval ?? '15s')
    .replace(/\$\{?__range\}?/g, vars.range ?? '5m')
    .replace(/\$\{?__interval\}?/g, '5s');
}
