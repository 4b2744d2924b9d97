/**
 * Shared helpers of the chart tests: find helm, render the chart, parse and
 * validate the rendered objects.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CHART_DIR = path.join(REPO_ROOT, 'charts', 'pastry');
export const K8S_DIR = path.join(REPO_ROOT, 'k8s');
export const RELEASE = 'pastry';
export const NAMESPACE = 'pastry';

/** The chart's values files for the documented environments. */
export const VALUE_SETS: Record<string, string[]> = {
  default: [],
  kind: [path.join(K8S_DIR, 'values', 'kind.yaml')],
  minikube: [path.join(K8S_DIR, 'values', 'minikube.yaml')],
  production: [path.join(K8S_DIR, 'values', 'production.yaml')],
};

// A Kubernetes object as rendered: plain JSON.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = Record<string, any>;

let helmPath: string | undefined;

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function goBinDirs(): string[] {
  const dirs: string[] = [];
  for (const goCmd of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(goCmd, ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const [gobin, gopath] = r.stdout.split('\n');
    if (gobin) dirs.push(gobin.trim());
    for (const p of (gopath ?? '').trim().split(path.delimiter)) {
      if (p) dirs.push(path.join(p, 'bin'));
    }
    break;
  }
  if (process.env.HOME) dirs.push(path.join(process.env.HOME, 'go', 'bin'));
  return dirs;
}

/** helm from PATH, else from the Go bin directory where test/setup/ensure-helm.sh puts it. */
export function findHelm(): string {
  if (helmPath) return helmPath;
  const candidates = [
    ...(process.env.HELM ? [process.env.HELM] : []),
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'helm')),
    ...goBinDirs().map((d) => path.join(d, 'helm')),
  ];
  const found = candidates.find(isExecutable);
  if (!found) {
    throw new Error(
      'helm not found on PATH nor in the Go bin directory: run `bash test/setup/ensure-helm.sh` first',
    );
  }
  helmPath = found;
  return found;
}

/**
 * Finds helm, or builds it with test/setup/ensure-helm.sh (go install; a minute or two on a
 * fresh machine). Call from beforeAll with a long timeout.
 */
export function ensureHelm(): string {
  try {
    return findHelm();
  } catch {
    const out = execFileSync('bash', [path.join(REPO_ROOT, 'test', 'setup', 'ensure-helm.sh')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const built = out.trim().split('\n').pop() ?? '';
    if (!isExecutable(built)) throw new Error(`ensure-helm.sh did not produce helm (got "${built}")`);
    helmPath = built;
    return built;
  }
}

/** beforeAll timeout that leaves room for building helm on a fresh machine. */
export const ENSURE_HELM_TIMEOUT_MS = 600_000;

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(findHelm(), args, {
    encoding: 'utf8',
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
    // No cluster, no repositories, no plugins: keep helm away from the user's config.
    env: { ...process.env, HELM_NO_PLUGINS: '1', KUBECONFIG: '/dev/null' },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export interface RenderOptions {
  valuesFiles?: string[];
  set?: Record<string, string | number | boolean>;
  /** Use --set-string for these. */
  setString?: Record<string, string>;
  chartDir?: string;
  release?: string;
  namespace?: string;
  extraArgs?: string[];
  /** Render as for a cluster without the prometheus-operator's CRDs (default: with them). */
  noOperator?: boolean;
}

function renderArgs(opts: RenderOptions): string[] {
  const args = [
    'template',
    opts.release ?? RELEASE,
    opts.chartDir ?? CHART_DIR,
    '--namespace',
    opts.namespace ?? NAMESPACE,
  ];
  if (!opts.noOperator) args.push('--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor');
  for (const f of opts.valuesFiles ?? []) args.push('--values', f);
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push('--set', `${k}=${v}`);
  for (const [k, v] of Object.entries(opts.setString ?? {})) args.push('--set-string', `${k}=${v}`);
  return [...args, ...(opts.extraArgs ?? [])];
}

/** `helm template` output; throws with helm's message if rendering fails. */
export function renderRaw(opts: RenderOptions = {}): string {
  const r = helm(renderArgs(opts));
  if (r.status !== 0) {
    throw new Error(`helm ${renderArgs(opts).join(' ')} failed (${r.status}):\n${r.stderr}`);
  }
  return r.stdout;
}

/** `helm template` expected to fail: returns its exit status and stderr. */
export function renderFailure(opts: RenderOptions): HelmResult {
  return helm(renderArgs(opts));
}

export function parseObjects(manifest: string): K8sObject[] {
  const docs = parseAllDocuments(manifest);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj !== null && obj !== undefined) objects.push(obj);
  }
  return objects;
}

const cache = new Map<string, K8sObject[]>();

/** Rendered objects (cached per options). Callers must not mutate them. */
export function render(opts: RenderOptions = {}): K8sObject[] {
  const key = JSON.stringify(opts);
  let objs = cache.get(key);
  if (!objs) {
    objs = parseObjects(renderRaw(opts));
    cache.set(key, objs);
  }
  return objs;
}

export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function findAll(objs: K8sObject[], kind: string): K8sObject[] {
  return objs.filter((o) => o.kind === kind);
}

export function findOne(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const matches = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (matches.length !== 1) {
    throw new Error(`expected exactly one ${kind}${name ? ` named ${name}` : ''}, found ${matches.length}`);
  }
  return matches[0];
}

export function statefulSet(objs: K8sObject[]): K8sObject {
  return findOne(objs, 'StatefulSet');
}

/** The ConfigMap the node container reads with envFrom. */
export function nodeConfig(objs: K8sObject[]): Record<string, string> {
  const sts = statefulSet(objs);
  const node = nodeContainer(sts);
  const refs = (node.envFrom ?? []).map((e: K8sObject) => e.configMapRef?.name).filter(Boolean);
  if (refs.length !== 1) throw new Error(`expected one configMapRef on the node container, found ${refs.length}`);
  return findOne(objs, 'ConfigMap', refs[0]).data;
}

export function nodeContainer(sts: K8sObject): K8sObject {
  const c = sts.spec.template.spec.containers.find((x: K8sObject) => x.name === 'pastry');
  if (!c) throw new Error('no container named pastry in the StatefulSet');
  return c;
}

/** The Redis sidecar: a native sidecar (init container, restartPolicy Always) or a container. */
export function redisContainer(sts: K8sObject): K8sObject | undefined {
  const spec = sts.spec.template.spec;
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])].find((c: K8sObject) => c.name === 'redis');
}

export function envValue(container: K8sObject, name: string): K8sObject | undefined {
  return (container.env ?? []).find((e: K8sObject) => e.name === name);
}

/** Constructors of the models that validate each apiVersion/kind we render. */
type Model = new (data: K8sObject) => { validate(): void };
function modelFor(apiVersion: string, kind: string): Model | undefined {
  const modules: Record<string, string> = {
    v1: 'kubernetes-models/v1',
    'apps/v1': 'kubernetes-models/apps/v1',
    'policy/v1': 'kubernetes-models/policy/v1',
    'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
    'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  };
  const mod = modules[apiVersion];
  if (!mod) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(mod) as Record<string, Model>)[kind];
}

/** Validates an object against its Kubernetes schema; throws on an unknown kind or an invalid object. */
export function validateObject(obj: K8sObject): void {
  const Model = modelFor(obj.apiVersion, obj.kind);
  if (!Model) throw new Error(`no schema model for ${obj.apiVersion} ${obj.kind}`);
  new Model(clone(obj)).validate();
}
