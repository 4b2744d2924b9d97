import * as fs from 'node:fs';
import * as path from 'node:path';
/**
 * The chart lints, renders with every documented value set, and every rendered object
 * is a valid Kubernetes object (kubernetes-models schemas).
 */
import {
  CHART_DIR,
  REPO_ROOT,
  ENSURE_HELM_TIMEOUT_MS,
  K8sObject,
  VALUE_SETS,
  ensureHelm,
  findAll,
  helm,
  render,
  renderRaw,
  statefulSet,
  validateObject,
} from './helm';

beforeAll(() => {
  ensureHelm();
}, ENSURE_HELM_TIMEOUT_MS);

/** Every optional object switched on, to validate them too. */
const EVERYTHING_ON = {
  'serviceMonitor.enabled': true,
  'networkPolicy.enabled': true,
  'persistence.enabled': true,
  'tracing.enabled': true,
  'tracing.otlpEndpoint': 'http://collector:4317',
};

describe('helm lint --strict', () => {
  test.each(Object.entries(VALUE_SETS))('passes with the %s values', (_name, files) => {
    const args = ['lint', '--strict', CHART_DIR, ...files.flatMap((f) => ['--values', f])];
    const r = helm(args);
    expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: expect.stringContaining('0 chart(s) failed') });
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('helm template', () => {
  const sets: Array<[string, Parameters<typeof render>[0]]> = [
    ...Object.entries(VALUE_SETS).map(([name, files]): [string, Parameters<typeof render>[0]] => [name, { valuesFiles: files }]),
    ['everything on', { set: EVERYTHING_ON }],
    ['legacy sidecar (redis.nativeSidecar=false)', { set: { 'redis.nativeSidecar': false } }],
  ];

  test.each(sets)('renders valid Kubernetes objects with the %s values', (_name, opts) => {
    const objs = render(opts);
    expect(objs.length).toBeGreaterThanOrEqual(6);
    for (const obj of objs) {
      try {
        validateObject(obj);
      } catch (err) {
        throw new Error(`${obj.kind}/${obj.metadata?.name} is invalid: ${(err as Error).message}`);
      }
    }
  });

  test.each(sets)('gives every object a unique name, the release namespace and the release labels (%s)', (_name, opts) => {
    const objs = render(opts);
    const keys = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const o of objs) {
      expect(o.metadata.namespace).toBe('pastry');
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'pastry',
        'app.kubernetes.io/instance': 'pastry',
        'app.kubernetes.io/managed-by': 'Helm',
      });
    }
  });

  test('renders the expected set of objects by default', () => {
    const kinds = render().map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        'ConfigMap/pastry-config',
        'Pod/pastry-test-put-get',
        'PodDisruptionBudget/pastry',
        'Service/pastry',
        'Service/pastry-peers',
        'ServiceAccount/pastry',
        'StatefulSet/pastry',
        // One ConfigMap per dashboard in grafana/dashboards.
        ...fs
          .readdirSync(path.join(REPO_ROOT, 'grafana', 'dashboards'))
          .filter((f) => f.endsWith('.json'))
          .map((f) => `ConfigMap/pastry-dashboard-${f.replace(/\.json$/, '').toLowerCase().replace(/[_. ]/g, '-')}`),
      ].sort(),
    );
  });

  test('renders the optional objects only when enabled', () => {
    const on = render({ set: EVERYTHING_ON });
    expect(findAll(on, 'ServiceMonitor')).toHaveLength(1);
    expect(findAll(on, 'NetworkPolicy')).toHaveLength(1);
    expect(statefulSet(on).spec.volumeClaimTemplates).toHaveLength(1);
    const off = render();
    expect(findAll(off, 'ServiceMonitor')).toHaveLength(0);
    expect(findAll(off, 'NetworkPolicy')).toHaveLength(0);
    expect(statefulSet(off).spec.volumeClaimTemplates).toHaveLength(1);
    expect(statefulSet(render({ set: { 'persistence.enabled': false } })).spec.volumeClaimTemplates).toBeUndefined();
  });

  test('a cluster without the prometheus-operator gets no ServiceMonitor instead of a failed install', () => {
    const objs = render({ set: { 'serviceMonitor.enabled': true }, noOperator: true });
    expect(findAll(objs, 'ServiceMonitor')).toHaveLength(0);
    expect(findAll(render({ set: { 'serviceMonitor.enabled': true } }), 'ServiceMonitor')).toHaveLength(1);
  });

  test('the helm test pod outlives its success, so that `helm test --logs` can read it, and is replaced on the next run', () => {
    const pod = findAll(render(), 'Pod').find((p) => p.metadata.annotations?.['helm.sh/hook'] === 'test')!;
    expect(pod.metadata.annotations['helm.sh/hook-delete-policy']).toBe('before-hook-creation');
  });

  test('the production values turn on persistence, the ServiceMonitor and the NetworkPolicy', () => {
    const objs = render({ valuesFiles: VALUE_SETS.production });
    expect(findAll(objs, 'ServiceMonitor')).toHaveLength(1);
    expect(findAll(objs, 'NetworkPolicy')).toHaveLength(1);
    const claims: K8sObject[] = statefulSet(objs).spec.volumeClaimTemplates;
    expect(claims.map((c) => c.metadata.name)).toEqual(['data']);
    expect(claims[0].spec.resources.requests.storage).toBe('10Gi');
  });

  test('renders for another release name and namespace, deriving every name from them', () => {
    const raw = renderRaw({ release: 'ring', namespace: 'dht' });
    expect(raw).not.toMatch(/\bpastry\.svc\b|\.pastry\.svc/);
    expect(raw).toContain('ring-pastry-0.ring-pastry-peers.dht.svc.cluster.local:7000');
  });

  test('keeps pod names valid DNS labels for long release names', () => {
    const release = 'a-very-long-release-name-that-goes-on-and-on-and-on';
    const objs = render({ release });
    const sts = statefulSet(objs);
    // Pod names are <sts>-<ordinal>; pod hostnames must be DNS labels (<= 63 characters).
    expect(`${sts.metadata.name}-9999`.length).toBeLessThanOrEqual(63);
    expect(sts.spec.serviceName.length).toBeLessThanOrEqual(63);
    for (const o of objs) expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});
