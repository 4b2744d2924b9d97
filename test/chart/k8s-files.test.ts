/**
 * The files around the chart: Grafana dashboards shipped as ConfigMaps, the k8s/
 * manifests and values, the make targets of the user flow, and the node image.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  CHART_DIR,
  ENSURE_HELM_TIMEOUT_MS,
  K8S_DIR,
  K8sObject,
  REPO_ROOT,
  ensureHelm,
  findAll,
  parseObjects,
  render,
  renderRaw,
  statefulSet,
  validateObject,
} from './helm';

beforeAll(() => {
  ensureHelm();
}, ENSURE_HELM_TIMEOUT_MS);

const read = (...p: string[]) => fs.readFileSync(path.join(...p), 'utf8');
const jsonFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : []);

describe('Grafana dashboards', () => {
  const source = path.join(REPO_ROOT, 'grafana', 'dashboards');
  const copy = path.join(CHART_DIR, 'dashboards');

  test('the chart ships an exact copy of grafana/dashboards as real files (`make chart-dashboards`): no link for helm to warn about or `helm package` to drop', () => {
    expect(fs.lstatSync(copy).isSymbolicLink()).toBe(false);
    expect(jsonFiles(copy)).toEqual(jsonFiles(source));
    expect(jsonFiles(copy).length).toBeGreaterThan(0);
    for (const f of jsonFiles(source)) expect(read(copy, f)).toBe(read(source, f));
  });

  test('every shipped dashboard becomes a ConfigMap labelled grafana_dashboard: "1"', () => {
    const maps = findAll(render(), 'ConfigMap').filter((c) => c.metadata.labels.grafana_dashboard !== undefined);
    expect(maps.map((m) => Object.keys(m.data)[0]).sort()).toEqual(jsonFiles(copy));
    for (const m of maps) expect(m.metadata.labels.grafana_dashboard).toBe('1');
  });

  test('renders a dashboard file into a labelled ConfigMap with its JSON intact', () => {
    // A scratch copy of the chart with one dashboard, so this holds with or without real ones.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pastry-chart-'));
    try {
      const chart = path.join(tmp, 'pastry');
      fs.cpSync(CHART_DIR, chart, { recursive: true });
      fs.rmSync(path.join(chart, 'dashboards'), { recursive: true, force: true });
      fs.mkdirSync(path.join(chart, 'dashboards'), { recursive: true });
      const dashboard = { title: 'Pastry test ring', uid: 'pastry-test', panels: [{ type: 'timeseries', title: 'a "quoted" title' }] };
      fs.writeFileSync(path.join(chart, 'dashboards', 'Pastry_Test.json'), JSON.stringify(dashboard, null, 2));
      const objs = parseObjects(renderRaw({ chartDir: chart }));
      const maps = findAll(objs, 'ConfigMap').filter((c) => c.metadata.labels.grafana_dashboard === '1');
      const ours = maps.find((m) => m.data['Pastry_Test.json'] !== undefined);
      expect(ours).toBeDefined();
      expect(ours?.metadata.name).toMatch(/^pastry-dashboard-pastry-test$/);
      expect(ours?.metadata.annotations).toEqual({ grafana_folder: 'Pastry' });
      expect(JSON.parse(ours?.data['Pastry_Test.json'])).toEqual(dashboard);
      for (const m of maps) validateObject(m);

      const off = parseObjects(renderRaw({ chartDir: chart, set: { 'dashboards.enabled': false } }));
      expect(findAll(off, 'ConfigMap').filter((c) => c.metadata.labels.grafana_dashboard !== undefined)).toEqual([]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('k8s/', () => {
  test('the kind cluster config is a kind v1alpha4 Cluster with workers', () => {
    const cfg = parseYaml(read(K8S_DIR, 'kind', 'cluster.yaml'));
    expect(cfg).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    expect(cfg.nodes.filter((n: K8sObject) => n.role === 'control-plane')).toHaveLength(1);
    expect(cfg.nodes.filter((n: K8sObject) => n.role === 'worker').length).toBeGreaterThanOrEqual(1);
  });

  test('the Chaos Mesh schedules kill pods of the release and nothing else', () => {
    const files = fs.readdirSync(path.join(K8S_DIR, 'chaos')).filter((f) => f.endsWith('.yaml'));
    expect(files).toContain('pod-kill-schedule.yaml');
    const nodeLabels = statefulSet(render()).spec.selector.matchLabels;
    for (const f of files) {
      const s = parseYaml(read(K8S_DIR, 'chaos', f));
      expect(s).toMatchObject({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'Schedule', spec: { type: 'PodChaos' } });
      expect(s.spec.schedule).toMatch(/^@every \d+[smh]$/);
      const chaos = s.spec.podChaos;
      expect(['pod-kill', 'container-kill']).toContain(chaos.action);
      expect(chaos.mode).toBe('one');
      expect(chaos.selector.namespaces).toEqual(['pastry']);
      // Selects by the StatefulSet's own selector labels (a subset of them), never more widely.
      expect(Object.keys(chaos.selector.labelSelectors).length).toBeGreaterThanOrEqual(2);
      for (const [k, v] of Object.entries(chaos.selector.labelSelectors)) expect(nodeLabels[k]).toBe(v);
    }
    expect(parseYaml(read(K8S_DIR, 'chaos', 'pod-kill-schedule.yaml')).spec.podChaos.action).toBe('pod-kill');
  });

  test('kube-prometheus-stack picks up the chart ServiceMonitor and dashboards', () => {
    const v = parseYaml(read(K8S_DIR, 'monitoring', 'kube-prometheus-stack-values.yaml'));
    expect(v.prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues).toBe(false);
    const chartValues = parseYaml(read(CHART_DIR, 'values.yaml'));
    expect(v.grafana.sidecar.dashboards).toMatchObject({
      enabled: true,
      label: chartValues.dashboards.label,
      labelValue: chartValues.dashboards.labelValue,
      folderAnnotation: chartValues.dashboards.folderAnnotation,
    });
    expect(v.grafana.sidecar.dashboards.searchNamespace).toBe('ALL');
  });

  test('the Jaeger manifest is valid and the dev values send traces to it', () => {
    const objs = parseObjects(read(K8S_DIR, 'monitoring', 'jaeger.yaml'));
    for (const o of objs) validateObject(o);
    const collector = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'jaeger-collector');
    const endpoint = `http://jaeger-collector.${collector?.metadata.namespace}.svc.cluster.local:4317`;
    for (const f of ['kind.yaml', 'minikube.yaml']) {
      const v = parseYaml(read(K8S_DIR, 'values', f));
      expect(v.tracing).toMatchObject({ enabled: true, otlpEndpoint: endpoint });
    }
    expect(collector?.spec.ports.map((p: K8sObject) => p.port)).toContain(4317);
  });

  test('the kind and minikube values never pull the locally loaded image', () => {
    for (const f of ['kind.yaml', 'minikube.yaml']) {
      const sts = statefulSet(render({ valuesFiles: [path.join(K8S_DIR, 'values', f)] }));
      expect(sts.spec.template.spec.containers[0]).toMatchObject({ image: 'pastry-node:dev', imagePullPolicy: 'Never' });
    }
  });
});

describe('k8s/k8s.mk', () => {
  const TARGETS = [
    'image', 'kind-up', 'kind-load', 'deploy', 'scale', 'chaos-k8s', 'kind-down',
    'minikube-up', 'minikube-image', 'minikube-deploy', 'minikube-down', 'helm-lint', 'chart-test',
  ];

  function dryRun(args: string[]) {
    return spawnSync('make', ['--no-print-directory', '-n', '-f', path.join(K8S_DIR, 'k8s.mk'), ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, HELM: 'helm', MAKEFLAGS: '' },
    });
  }

  test('defines every target of the user flow', () => {
    const mk = read(K8S_DIR, 'k8s.mk');
    for (const t of TARGETS) expect([t, new RegExp(`^${t}:`, 'm').test(mk)]).toEqual([t, true]);
    expect(mk).toMatch(/^RELEASE \?= pastry$/m);
    expect(mk).toMatch(/^NAMESPACE \?= pastry$/m);
    expect(mk).toMatch(/^IMAGE \?= pastry-node:dev$/m);
  });

  test('deploy installs the chart with the image split into repository and tag', () => {
    const r = dryRun(['deploy', 'IMAGE=localhost:5001/team/pastry-node:v7', 'RELEASE=ring', 'NAMESPACE=dht']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/helm upgrade --install ring charts\/pastry/);
    expect(r.stdout).toContain('--namespace dht');
    expect(r.stdout).toContain('--set image.repository=localhost:5001/team/pastry-node --set image.tag=v7');
  });

  test('scale changes only replicaCount and needs N', () => {
    const r = dryRun(['scale', 'N=12']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/helm upgrade pastry charts\/pastry .*--reuse-values --set replicaCount=12/s);
    expect(spawnSync('make', ['-s', '-f', path.join(K8S_DIR, 'k8s.mk'), 'scale', 'HELM=true'], { cwd: REPO_ROOT }).status).not.toBe(0);
  });

  test('chaos-k8s runs the pastry chaos command with the kubectl killer, or applies the Chaos Mesh schedule', () => {
    const cli = dryRun(['chaos-k8s', 'RELEASE=ring', 'NAMESPACE=dht']);
    expect(cli.stdout).toContain('node dist/services/cli/src/main.js chaos --killer kubectl --release ring --namespace dht');
    const mesh = dryRun(['chaos-k8s', 'CHAOS=mesh']);
    expect(mesh.stdout).toMatch(/k8s\/chaos\/pod-kill-schedule\.yaml \| kubectl +apply -f -/);
  });
});

describe('services/node/Dockerfile', () => {
  const dockerfile = read(REPO_ROOT, 'services', 'node', 'Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages[stages.length - 1];

  test('is multi-stage: builds with dev dependencies, runs with production ones only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/RUN npm ci[^\n]*\n/);
    expect(dockerfile).toMatch(/buf generate/);
    expect(dockerfile).toMatch(/tsc -p tsconfig\.json/);
    // The node's bundle, which the image's command (start.js) loads.
    expect(dockerfile).toMatch(/node services\/node\/scripts\/bundle\.mjs/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:\d+-[a-z]+-slim$/m);
  });

  test('runs the node as a non-root user under an init that forwards SIGTERM, with the CLI and protos', () => {
    expect(runtime).toMatch(/^USER [1-9]\d*(:\d+)?$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/services\/node\/src\/start\.js"\]$/m);
    expect(runtime).toMatch(/COPY proto\/ \.\/proto\//);
    expect(runtime).toMatch(/\/usr\/local\/bin\/pastry/);
    expect(runtime).toContain('dist/services/cli/src/main.js');
  });

  test('its uid matches the chart securityContext', () => {
    const uid = Number(/^USER (\d+)/m.exec(runtime)?.[1]);
    const node = statefulSet(render()).spec.template.spec.containers[0];
    expect(node.securityContext.runAsUser).toBe(uid);
  });

  test('.dockerignore keeps node_modules, dist and generated code out of the build context', () => {
    const ignore = read(REPO_ROOT, '.dockerignore').split('\n').map((l) => l.trim());
    expect(ignore[ignore.findIndex((l) => l && !l.startsWith('#'))]).toBe('*');
    expect(ignore).toEqual(expect.arrayContaining(['!package.json', '!package-lock.json', '!proto/', '!services/', '**/node_modules/']));
    expect(ignore).not.toContain('!dist/');
  });
});
