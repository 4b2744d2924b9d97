/**
 * What the chart promises the ring: discovery, seeds, probes, graceful shutdown,
 * the Redis sidecar, hardening, scaling without side effects, config mapping.
 */
import { isDeepStrictEqual } from 'node:util';
import { SETTINGS } from '../../services/node/src/config';
import {
  ENSURE_HELM_TIMEOUT_MS,
  K8sObject,
  VALUE_SETS,
  clone,
  ensureHelm,
  envValue,
  findOne,
  nodeConfig,
  nodeContainer,
  redisContainer,
  render,
  renderRaw,
  statefulSet,
} from './helm';

beforeAll(() => {
  ensureHelm();
}, ENSURE_HELM_TIMEOUT_MS);

const ALL_SETS = Object.entries(VALUE_SETS).map(([name, files]) => [name, { valuesFiles: files }] as const);

describe('peer discovery', () => {
  test.each(ALL_SETS)('the headless Service publishes not-ready addresses and is the StatefulSet serviceName (%s)', (_n, opts) => {
    const objs = render(opts);
    const sts = statefulSet(objs);
    const peers = findOne(objs, 'Service', sts.spec.serviceName);
    expect(peers.spec.clusterIP).toBe('None');
    expect(peers.spec.publishNotReadyAddresses).toBe(true);
    expect(peers.spec.selector).toEqual(sts.spec.selector.matchLabels);
    expect(peers.spec.ports.map((p: K8sObject) => [p.name, p.port])).toContainEqual(['grpc', 7000]);
  });

  test('the StatefulSet starts pods in parallel and its selector matches its pods', () => {
    const sts = statefulSet(render());
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    expect(sts.spec.template.metadata.labels).toMatchObject(sts.spec.selector.matchLabels);
  });

  test('the client Service reaches ready pods only, on the gRPC port', () => {
    const objs = render();
    const sts = statefulSet(objs);
    const client = findOne(objs, 'Service', 'pastry');
    expect(client.spec.publishNotReadyAddresses).not.toBe(true);
    expect(client.spec.clusterIP).not.toBe('None');
    expect(client.spec.selector).toEqual(sts.spec.selector.matchLabels);
    expect(client.spec.ports).toEqual([expect.objectContaining({ name: 'grpc', port: 7000, targetPort: 'grpc' })]);
  });

  test('each pod advertises its own DNS name under the headless Service', () => {
    const node = nodeContainer(statefulSet(render()));
    expect(envValue(node, 'PASTRY_NODE_NAME')).toEqual({
      name: 'PASTRY_NODE_NAME',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    const names = (node.env as K8sObject[]).map((e) => e.name);
    // $(PASTRY_NODE_NAME) expands only if defined earlier in the list.
    expect(names.indexOf('PASTRY_NODE_NAME')).toBeLessThan(names.indexOf('PASTRY_ADVERTISE_ADDRESS'));
    expect(envValue(node, 'PASTRY_ADVERTISE_ADDRESS')?.value).toBe(
      '$(PASTRY_NODE_NAME).pastry-peers.pastry.svc.cluster.local:7000',
    );
  });
});

describe('seeds', () => {
  const seedsFor = (replicaCount: number, extra: Record<string, string | number> = {}) =>
    nodeConfig(render({ set: { replicaCount, ...extra } })).PASTRY_SEEDS;

  test('are the DNS names of pods 0, 1 and 2, and pod 0 is the founder', () => {
    const config = nodeConfig(render());
    expect(config.PASTRY_SEEDS.split(',')).toEqual([0, 1, 2].map((i) => `pastry-${i}.pastry-peers.pastry.svc.cluster.local:7000`));
    expect(config.PASTRY_FOUNDER_NAME).toBe('pastry-0');
  });

  test('do not depend on replicaCount', () => {
    const seeds = seedsFor(3);
    expect(seeds.split(',')).toHaveLength(3);
    for (const n of [1, 2, 10, 100]) expect(seedsFor(n)).toBe(seeds);
  });

  test('follow the gRPC port and the cluster domain', () => {
    expect(seedsFor(3, { 'ports.grpc': 7100, clusterDomain: 'example.org' }).split(',')[0]).toBe(
      'pastry-0.pastry-peers.pastry.svc.example.org:7100',
    );
  });
});

describe('scaling', () => {
  /** Replaces every occurrence of the StatefulSet's replica count, to compare the rest. */
  function withoutReplicas(objs: K8sObject[]): K8sObject[] {
    return objs.map((o) => {
      if (o.kind !== 'StatefulSet') return o;
      const c = clone(o);
      delete c.spec.replicas;
      return c;
    });
  }

  test.each(ALL_SETS)('changing replicaCount changes nothing but the StatefulSet spec.replicas (%s)', (_n, opts) => {
    const three = render({ ...opts, set: { replicaCount: 3 } });
    const ten = render({ ...opts, set: { replicaCount: 10 } });
    expect(statefulSet(three).spec.replicas).toBe(3);
    expect(statefulSet(ten).spec.replicas).toBe(10);
    expect(withoutReplicas(ten)).toEqual(withoutReplicas(three));
  });

  test('the full rendered output of two replica counts differs in exactly one line', () => {
    const a = renderRaw({ set: { replicaCount: 3 } }).split('\n');
    const b = renderRaw({ set: { replicaCount: 10 } }).split('\n');
    expect(b).toHaveLength(a.length);
    const diff = a.flatMap((line, i) => (line === b[i] ? [] : [[line, b[i]]]));
    expect(diff).toEqual([['  replicas: 3', '  replicas: 10']]);
  });

  test('the pod template carries a checksum of the config, so config changes roll the pods', () => {
    const checksum = (o: K8sObject[]) => statefulSet(o).spec.template.metadata.annotations['checksum/config'];
    expect(checksum(render())).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(render({ set: { 'config.rpcTimeoutMs': 3000 } }))).not.toBe(checksum(render()));
  });
});

describe('probes', () => {
  test.each([
    ['default', {}],
    ['another gRPC port', { 'ports.grpc': 7100 }],
  ])('are native gRPC probes on the health service port (%s)', (_n, set: Record<string, number>) => {
    const objs = render({ set });
    const node = nodeContainer(statefulSet(objs));
    const grpcPort = node.ports.find((p: K8sObject) => p.name === 'grpc').containerPort;
    expect(String(grpcPort)).toBe(nodeConfig(objs).PASTRY_PORT);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(node[probe]).toBeDefined();
      expect(node[probe].grpc).toEqual(expect.objectContaining({ port: grpcPort }));
      expect(node[probe].httpGet ?? node[probe].tcpSocket ?? node[probe].exec).toBeUndefined();
    }
  });

  test('readiness asks the overall health (joined + Redis); liveness and startup the "liveness" service', () => {
    const node = nodeContainer(statefulSet(render()));
    expect(node.readinessProbe.grpc.service ?? '').toBe('');
    expect(node.livenessProbe.grpc.service).toBe('liveness');
    expect(node.startupProbe.grpc.service).toBe('liveness');
  });

  test('the startup probe gives the node time to start before liveness applies', () => {
    const { startupProbe, livenessProbe } = nodeContainer(statefulSet(render()));
    expect(startupProbe.periodSeconds * startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
    expect(livenessProbe.periodSeconds * livenessProbe.failureThreshold).toBeGreaterThanOrEqual(30);
  });
});

describe('graceful shutdown', () => {
  function shutdownBudget(objs: K8sObject[]) {
    const spec = statefulSet(objs).spec.template.spec;
    const node = nodeContainer(statefulSet(objs));
    const preStop: string[] = node.lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    return {
      tgps: spec.terminationGracePeriodSeconds as number,
      preStopSeconds: Number(preStop[1]),
      graceMs: Number(nodeConfig(objs).PASTRY_SHUTDOWN_GRACE_MS),
    };
  }

  test.each([
    ['default', {}],
    ['production', { valuesFiles: VALUE_SETS.production }],
    ['a long grace', { set: { 'config.shutdownGraceMs': 90500 } }],
    ['a long preStop', { set: { 'shutdown.preStopSleepSeconds': 40 } }],
  ])('terminationGracePeriodSeconds covers preStop + PASTRY_SHUTDOWN_GRACE_MS (%s)', (_n, opts) => {
    const { tgps, preStopSeconds, graceMs } = shutdownBudget(render(opts));
    expect(graceMs).toBeGreaterThan(0);
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(tgps * 1000).toBeGreaterThanOrEqual(graceMs + preStopSeconds * 1000);
  });

  test('the Redis sidecar outlives the node: native sidecar, or a preStop longer than the node shutdown', () => {
    const native = statefulSet(render());
    expect(native.spec.template.spec.initContainers.find((c: K8sObject) => c.name === 'redis').restartPolicy).toBe('Always');

    const legacy = render({ set: { 'redis.nativeSidecar': false } });
    const { preStopSeconds, graceMs } = shutdownBudget(legacy);
    const redis = redisContainer(statefulSet(legacy));
    expect(statefulSet(legacy).spec.template.spec.initContainers).toBeUndefined();
    const redisSleep = redis?.lifecycle.preStop.exec.command;
    expect(redisSleep[0]).toBe('sleep');
    expect(Number(redisSleep[1]) * 1000).toBeGreaterThanOrEqual(graceMs + preStopSeconds * 1000);
  });
});

describe('the Redis sidecar', () => {
  test.each(ALL_SETS)('is present, bound to 127.0.0.1, and the node uses it (%s)', (_n, opts) => {
    const objs = render(opts);
    const redis = redisContainer(statefulSet(objs));
    expect(redis).toBeDefined();
    expect(redis?.image).toMatch(/^redis:\d/);
    const args: string[] = redis?.args;
    expect(args[args.indexOf('--bind') + 1]).toBe('127.0.0.1');
    expect(redis?.ports ?? []).toEqual([]);
    const config = nodeConfig(objs);
    expect(config.PASTRY_STORE).toBe('redis');
    expect(config.PASTRY_REDIS_URL).toBe(`redis://127.0.0.1:${args[args.indexOf('--port') + 1]}`);
  });

  test('keeps an append-only file on a PVC by default, deleted on scale-down, and nothing on disk without persistence', () => {
    const persistent = statefulSet(render());
    const pargs: string[] = redisContainer(persistent)?.args;
    expect(pargs[pargs.indexOf('--appendonly') + 1]).toBe('yes');
    expect(pargs[pargs.indexOf('--appendfsync') + 1]).toBe('everysec');
    expect(persistent.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'data')).toBeUndefined();
    expect(persistent.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(persistent.spec.volumeClaimTemplates[0].spec.storageClassName).toBeUndefined();
    expect(persistent.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Delete', whenDeleted: 'Retain' });
    expect(redisContainer(persistent)?.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });

    const plainSts = statefulSet(render({ set: { 'persistence.enabled': false } }));
    const args: string[] = redisContainer(plainSts)?.args;
    expect(args[args.indexOf('--save') + 1]).toBe('');
    expect(args[args.indexOf('--appendonly') + 1]).toBe('no');
    const dataVolume = plainSts.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'data');
    expect(dataVolume.emptyDir).toBeDefined();
    expect(plainSts.spec.volumeClaimTemplates).toBeUndefined();
    expect(plainSts.spec.persistentVolumeClaimRetentionPolicy).toBeUndefined();
  });
});

describe('security', () => {
  const hardened = {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };

  test.each(ALL_SETS)('both containers run hardened (%s)', (_n, opts) => {
    const sts = statefulSet(render(opts));
    const node = nodeContainer(sts);
    const redis = redisContainer(sts);
    for (const c of [node, redis]) {
      expect(c?.securityContext).toMatchObject(hardened);
      expect(c?.securityContext.privileged ?? false).toBe(false);
      expect(c?.securityContext.capabilities.add ?? []).toEqual([]);
      expect(c?.securityContext.runAsUser).toBeGreaterThan(0);
    }
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
  });

  test.each([
    ['with persistence (the default)', {}],
    ['without persistence', { 'persistence.enabled': false }],
  ])('every writable path is an emptyDir or the data volume (%s)', (_n, set) => {
    const sts = statefulSet(render({ set }));
    const volumes = new Map<string, K8sObject>(sts.spec.template.spec.volumes.map((v: K8sObject) => [v.name, v]));
    const claims = new Set<string>((sts.spec.volumeClaimTemplates ?? []).map((c: K8sObject) => c.metadata.name));
    for (const c of [nodeContainer(sts), redisContainer(sts)]) {
      for (const m of c?.volumeMounts ?? []) {
        if (claims.has(m.name)) expect({ name: m.name, volume: volumes.get(m.name) }).toEqual({ name: 'data', volume: undefined });
        else expect(volumes.get(m.name)?.emptyDir).toBeDefined();
      }
    }
    expect(nodeContainer(sts).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  test('the helm test pod is hardened too', () => {
    const pod = findOne(render(), 'Pod');
    expect(pod.spec.containers[0].securityContext).toMatchObject(hardened);
  });
});

describe('configuration', () => {
  // Every setting the node reads (services/node/src/config.ts), except PASTRY_FOUNDER: in a
  // StatefulSet the founder is named by PASTRY_FOUNDER_NAME.
  const NODE_VARIABLES = Object.values(SETTINGS)
    .map((s) => s.env)
    .filter((v) => v !== 'PASTRY_FOUNDER');
  // Settings the chart computes per pod or sets on purpose for Kubernetes.
  const KUBERNETES_SPECIFIC = new Set([
    'PASTRY_NODE_NAME', 'PASTRY_HOST', 'PASTRY_ADVERTISE_ADDRESS', 'PASTRY_SEEDS', 'PASTRY_FOUNDER_NAME', 'PASTRY_STORE', 'PASTRY_REDIS_URL',
  ]);

  test('every node setting reaches the node container, from the ConfigMap or the env', () => {
    const objs = render();
    const node = nodeContainer(statefulSet(objs));
    const provided = new Set([...Object.keys(nodeConfig(objs)), ...(node.env as K8sObject[]).map((e) => e.name)]);
    for (const v of NODE_VARIABLES) expect([v, provided.has(v)]).toEqual([v, true]);
  });

  test('the chart and the local ring share the same defaults', () => {
    const config = nodeConfig(render());
    for (const s of Object.values(SETTINGS)) {
      if (KUBERNETES_SPECIFIC.has(s.env) || s.env === 'PASTRY_FOUNDER') continue;
      expect([s.env, config[s.env]]).toEqual([s.env, s.default]);
    }
  });

  test('maps values onto the variables, as integers without exponent notation', () => {
    const config = nodeConfig(
      render({
        set: {
          'config.leafSetSize': 32,
          'config.neighborhoodSize': 24,
          'config.maxValueBytes': 4194304,
          'config.capacityBytes': 150000000,
          'config.cacheLeaseMs': 500,
          'config.cacheBytes': 33554432,
          'config.replicas': 5,
          'config.maintenanceIntervalMs': 1500,
          'config.rpcTimeoutMs': 2500,
          'config.shutdownGraceMs': 30000,
          'config.logLevel': 'debug',
          'ports.metrics': 9500,
          'redis.port': 6380,
        },
      }),
    );
    expect(config).toMatchObject({
      PASTRY_HOST: '0.0.0.0',
      PASTRY_LEAF_SET_SIZE: '32',
      PASTRY_NEIGHBORHOOD_SIZE: '24',
      PASTRY_MAX_VALUE_BYTES: '4194304',
      PASTRY_CAPACITY_BYTES: '150000000',
      PASTRY_CACHE_LEASE_MS: '500',
      PASTRY_CACHE_BYTES: '33554432',
      PASTRY_REPLICAS: '5',
      PASTRY_MAINTENANCE_INTERVAL_MS: '1500',
      PASTRY_RPC_TIMEOUT_MS: '2500',
      PASTRY_SHUTDOWN_GRACE_MS: '30000',
      PASTRY_LOG_LEVEL: 'debug',
      PASTRY_METRICS_PORT: '9500',
      PASTRY_REDIS_URL: 'redis://127.0.0.1:6380',
    });
    // The defaults from values.yaml (parsed as floats by helm) render as plain integers too.
    expect(nodeConfig(render()).PASTRY_MAX_VALUE_BYTES).toBe('1048576');
  });

  test('tracing is off unless enabled, then OTEL_* point at the endpoint', () => {
    const off = nodeConfig(render());
    expect(Object.keys(off).filter((k) => k.startsWith('OTEL_EXPORTER') || k === 'OTEL_TRACES_EXPORTER')).toEqual([]);
    const on = nodeConfig(render({ set: { 'tracing.enabled': true, 'tracing.otlpEndpoint': 'http://jaeger:4317' } }));
    expect(on).toMatchObject({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317' });
  });

  test('config.extra adds variables verbatim', () => {
    const config = nodeConfig(render({ setString: { 'config.extra.OTEL_METRIC_EXPORT_INTERVAL': '5000' } }));
    expect(config.OTEL_METRIC_EXPORT_INTERVAL).toBe('5000');
  });

  test('the metrics port is exposed on the pods and the headless Service', () => {
    const objs = render({ set: { 'ports.metrics': 9500 } });
    const node = nodeContainer(statefulSet(objs));
    expect(node.ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: 9500 }));
    const peers = findOne(objs, 'Service', 'pastry-peers');
    expect(peers.spec.ports).toContainEqual(expect.objectContaining({ name: 'metrics', port: 9500, targetPort: 'metrics' }));
  });
});

describe('availability and placement', () => {
  test.each(ALL_SETS)('a PodDisruptionBudget allows one voluntary disruption at a time (%s)', (_n, opts) => {
    const objs = render(opts);
    const pdb = findOne(objs, 'PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeUndefined();
    expect(pdb.spec.selector.matchLabels).toEqual(statefulSet(objs).spec.selector.matchLabels);
  });

  test('pods spread softly over hosts by default', () => {
    const sts = statefulSet(render());
    const spread: K8sObject[] = sts.spec.template.spec.topologySpreadConstraints;
    const byHost = spread.find((c) => c.topologyKey === 'kubernetes.io/hostname');
    expect(byHost).toMatchObject({ whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: sts.spec.selector.matchLabels } });
    expect(spread.every((c) => c.whenUnsatisfiable === 'ScheduleAnyway')).toBe(true);
  });

  test('both containers have resource requests and a memory limit', () => {
    const sts = statefulSet(render());
    for (const c of [nodeContainer(sts), redisContainer(sts)]) {
      expect(c?.resources.requests).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
      expect(c?.resources.limits.memory).toBeDefined();
    }
  });
});

describe('ServiceMonitor', () => {
  test('scrapes the metrics port of every pod through the headless Service, with configurable labels', () => {
    const objs = render({ set: { 'serviceMonitor.enabled': true, 'serviceMonitor.labels.release': 'kube-prometheus-stack' } });
    const sm = findOne(objs, 'ServiceMonitor');
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    const selected = objs.filter(
      (o) => o.kind === 'Service' && Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels[k] === v),
    );
    expect(selected.map((s) => s.metadata.name)).toEqual(['pastry-peers']);
    expect(sm.spec.namespaceSelector.matchNames).toEqual(['pastry']);
  });
});

describe('NetworkPolicy', () => {
  function policy(set: Record<string, string | number | boolean> = {}) {
    const objs = render({ set: { 'networkPolicy.enabled': true, ...set } });
    return { objs, np: findOne(objs, 'NetworkPolicy') };
  }
  const portsOf = (rule: K8sObject) => rule.ports.map((p: K8sObject) => p.port);

  test('opens the peer port to pods of this release only, and nothing else by default', () => {
    const { objs, np } = policy();
    const sts = statefulSet(objs);
    expect(np.spec.podSelector.matchLabels).toEqual(sts.spec.selector.matchLabels);
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    const rules: K8sObject[] = np.spec.ingress;
    const grpcRules = rules.filter((r) => portsOf(r).includes('grpc'));
    // Peers: exactly this release's pods.
    expect(grpcRules[0].from).toEqual([{ podSelector: { matchLabels: sts.spec.selector.matchLabels } }]);
    // Clients: only pods labelled as clients of this release (the helm test pod is one).
    expect(grpcRules[1].from).toEqual([{ podSelector: { matchLabels: { 'pastry-client': 'true' } } }]);
    expect(findOne(objs, 'Pod').metadata.labels['pastry-client']).toBe('true');
    // Every rule names its ports: no rule opens everything.
    for (const r of rules) expect(r.ports.length).toBeGreaterThan(0);
    for (const r of rules) for (const from of r.from ?? []) expect(from.ipBlock).toBeUndefined();
  });

  test('the client sources are configurable', () => {
    const { np } = policy();
    const custom = render({
      valuesFiles: VALUE_SETS.production,
    });
    const prodRules: K8sObject[] = findOne(custom, 'NetworkPolicy').spec.ingress;
    expect(prodRules[1].from).toContainEqual({ namespaceSelector: { matchLabels: { 'pastry.io/client': 'true' } } });
    expect(isDeepStrictEqual(prodRules[1].from, np.spec.ingress[1].from)).toBe(false);
  });
});

describe('helm test', () => {
  test('puts and gets an object through the client Service with the image pastry CLI', () => {
    const objs = render();
    const pod = findOne(objs, 'Pod');
    expect(pod.metadata.annotations['helm.sh/hook']).toBe('test');
    const c = pod.spec.containers[0];
    expect(c.image).toBe(nodeContainer(statefulSet(objs)).image);
    const script = c.args.join('\n');
    expect(script).toMatch(/pastry put "\$key" "\$value" --target "\$TARGET"/);
    expect(script).toMatch(/pastry get "\$key" --target "\$TARGET"/);
    const client = findOne(objs, 'Service', 'pastry');
    expect(envValue(c, 'TARGET')?.value).toBe(`pastry.pastry.svc.cluster.local:${client.spec.ports[0].port}`);
    expect(pod.spec.restartPolicy).toBe('Never');
  });

  test('is not selected by the ring Services', () => {
    const objs = render();
    const podLabels = findOne(objs, 'Pod').metadata.labels;
    for (const svc of objs.filter((o) => o.kind === 'Service')) {
      const selects = Object.entries(svc.spec.selector).every(([k, v]) => podLabels[k] === v);
      expect([svc.metadata.name, selects]).toEqual([svc.metadata.name, false]);
    }
  });
});
