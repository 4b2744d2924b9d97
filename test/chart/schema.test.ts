/**
 * values.schema.json (and the chart's own checks) reject bad values before anything
 * reaches a cluster: `helm template` exits non-zero and names the offending value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHART_DIR, ENSURE_HELM_TIMEOUT_MS, ensureHelm, render, renderFailure, statefulSet } from './helm';

beforeAll(() => {
  ensureHelm();
}, ENSURE_HELM_TIMEOUT_MS);

type Case = [string, Record<string, string>, RegExp];

// [value, --set / --set-string values, what the error must mention]
const REJECTED: Case[] = [
  ['replicaCount 0', { replicaCount: '0' }, /replicaCount/],
  ['replicaCount negative', { replicaCount: '-3' }, /replicaCount/],
  ['replicaCount not a number', { replicaCount: 'three' }, /replicaCount/],
  ['replicaCount fractional', { replicaCount: '2.5' }, /replicaCount/],
  ['k replicas 0', { 'config.replicas': '0' }, /replicas/],
  ['k replicas a string', { 'config.replicas': 'many' }, /replicas/],
  ['gRPC port 0', { 'ports.grpc': '0' }, /grpc/],
  ['gRPC port 65536', { 'ports.grpc': '65536' }, /grpc/],
  ['metrics port 70000', { 'ports.metrics': '70000' }, /metrics/],
  ['service port 0', { 'service.port': '0' }, /port/],
  ['redis port a string', { 'redis.port': 'six' }, /port/],
  ['clashing ports', { 'ports.metrics': '7000' }, /must differ/],
  ['odd leaf set size', { 'config.leafSetSize': '15' }, /leafSetSize/],
  ['leaf set size 0', { 'config.leafSetSize': '0' }, /leafSetSize/],
  ['neighbourhood size 0', { 'config.neighborhoodSize': '0' }, /neighborhoodSize/],
  ['max value bytes 0', { 'config.maxValueBytes': '0' }, /maxValueBytes/],
  ['negative capacity', { 'config.capacityBytes': '-1' }, /capacityBytes/],
  ['negative shutdown grace', { 'config.shutdownGraceMs': '-1' }, /shutdownGraceMs/],
  ['rpc timeout 0', { 'config.rpcTimeoutMs': '0' }, /rpcTimeoutMs/],
  ['unknown log level', { 'config.logLevel': 'chatty' }, /logLevel/],
  ['seed count 0', { 'seeds.count': '0' }, /count/],
  ['unknown top-level key', { replicacount: '3' }, /replicacount/],
  ['unknown nested key', { 'config.leafsetSize': '16' }, /leafsetSize/],
  ['boolean as a string', { 'persistence.enabled': '"yes"' }, /enabled/],
  ['unknown PVC retention policy', { 'persistence.retention.whenScaled': 'Keep' }, /whenScaled/],
  ['unknown pull policy', { 'image.pullPolicy': 'Sometimes' }, /pullPolicy/],
  ['unknown Service type', { 'service.type': 'Headless' }, /type/],
  ['PDB maxUnavailable 0', { 'podDisruptionBudget.maxUnavailable': '0' }, /maxUnavailable/],
  ['tracing on without endpoint', { 'tracing.enabled': 'true' }, /otlpEndpoint/],
  ['bad scrape interval', { 'serviceMonitor.interval': 'often' }, /interval/],
  ['bad env variable name in config.extra', { 'config.extra.bad-name': 'x' }, /bad-name/],
  ['negative preStop', { 'shutdown.preStopSleepSeconds': '-5' }, /preStopSleepSeconds/],
  ['probe period 0', { 'probes.readiness.periodSeconds': '0' }, /periodSeconds/],
];

describe('values.schema.json', () => {
  test('is a JSON schema that forbids unknown top-level keys', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8'));
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.replicaCount).toMatchObject({ type: 'integer', minimum: 1 });
  });

  test.each(REJECTED)('rejects %s', (_name, values, mentions) => {
    const set: Record<string, string> = {};
    const setString: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) {
      // A quoted value is passed as a string (--set-string), the rest with --set.
      if (/^".*"$/.test(v)) setString[k] = v.slice(1, -1);
      else set[k] = v;
    }
    const r = renderFailure({ set, setString });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(mentions);
  });

  test.each([
    ['replicaCount 1', { replicaCount: 1 }],
    ['replicaCount 500', { replicaCount: 500 }],
    ['k replicas 1', { 'config.replicas': 1 }],
    ['ports at the ends of the range', { 'ports.grpc': 1, 'ports.metrics': 65535 }],
    ['PDB maxUnavailable as a percentage', { 'podDisruptionBudget.maxUnavailable': '25%' }],
    ['tracing with an endpoint', { 'tracing.enabled': true, 'tracing.otlpEndpoint': 'http://otel:4317' }],
    ['no shutdown grace', { 'config.shutdownGraceMs': 0 }],
  ])('accepts %s', (_name, set: Record<string, string | number | boolean>) => {
    expect(statefulSet(render({ set })).kind).toBe('StatefulSet');
  });
});
