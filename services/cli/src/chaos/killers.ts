import { execFile } from 'node:child_process';
import { guidForName } from '../../../node/src/dht/guid';
import { isRunning, readState, signalPod, startPod, waitForExit, DEFAULT_CLUSTER } from '../cluster';

/** A pod as the chaos harness sees it. */
export interface ChaosPod {
  name: string;
  id: string;
  address: string;
}

/**
 * Kills pods. The local killer SIGKILLs node processes and restarts them after a delay as a
 * StatefulSet would; the kubectl killer force-deletes pods and lets the StatefulSet do it.
 */
export interface Killer {
  readonly kind: string;
  /** Pods that exist now (running or restarting), with the addresses clients can use. */
  pods(): Promise<ChaosPod[]>;
  /** Pods that answer now. */
  livePods(): Promise<ChaosPod[]>;
  kill(pods: ChaosPod[]): Promise<void>;
  /** Restarts whatever is still down (the local killer; Kubernetes does it itself). */
  restartAll(): Promise<void>;
}

export class LocalKiller implements Killer {
  readonly kind = 'local';
  private readonly pending = new Set<NodeJS.Timeout>();

  constructor(
    private readonly runDir: string,
    private readonly restartDelayMs: number,
    private readonly withSidecar: boolean,
  ) {}

  private state() {
    const s = readState(this.runDir);
    if (!s) throw new Error(`no local ring in ${this.runDir}: run \`pastry cluster up\` first`);
    return s;
  }

  async pods(): Promise<ChaosPod[]> {
    return this.state().pods.map((p) => ({ name: p.name, id: p.id, address: p.address }));
  }

  async livePods(): Promise<ChaosPod[]> {
    return this.state()
      .pods.filter((p) => isRunning(p.pid))
      .map((p) => ({ name: p.name, id: p.id, address: p.address }));
  }

  async kill(pods: ChaosPod[]): Promise<void> {
    const pids = pods.map((p) => signalPod(this.runDir, p.name, 'SIGKILL', this.withSidecar).pid);
    await waitForExit(pids, 5000);
    for (const pod of pods) {
      const t = setTimeout(() => {
        this.pending.delete(t);
        this.restart(pod.name);
      }, this.restartDelayMs);
      this.pending.add(t);
    }
  }

  private restart(name: string): void {
    const state = this.state();
    const pod = state.pods.find((p) => p.name === name);
    if (pod && !isRunning(pod.pid)) startPod(state, pod.ordinal, { ...DEFAULT_CLUSTER, runDir: this.runDir, storage: state.storage });
  }

  async restartAll(): Promise<void> {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    for (const p of this.state().pods) this.restart(p.name);
  }
}

export class KubectlKiller implements Killer {
  readonly kind = 'kubectl';

  constructor(
    private readonly release: string,
    private readonly namespace: string,
    private readonly port: number,
  ) {}

  private kubectl(args: string[]): Promise<string> {
    return new Promise((resolve, reject) =>
      execFile('kubectl', ['-n', this.namespace, ...args], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
        err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
      ),
    );
  }

  private async list(readyOnly: boolean): Promise<ChaosPod[]> {
    const out = JSON.parse(await this.kubectl(['get', 'pods', '-l', `app.kubernetes.io/instance=${this.release},app.kubernetes.io/component=node`, '-o', 'json'])) as {
      items: { metadata: { name: string }; status: { podIP?: string; conditions?: { type: string; status: string }[] } }[];
    };
    return out.items
      .filter((p) => !readyOnly || p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .filter((p) => p.status.podIP)
      .map((p) => ({ name: p.metadata.name, id: guidForName(p.metadata.name), address: `${p.status.podIP}:${this.port}` }));
  }

  pods(): Promise<ChaosPod[]> {
    return this.list(false);
  }

  livePods(): Promise<ChaosPod[]> {
    return this.list(true);
  }

  async kill(pods: ChaosPod[]): Promise<void> {
    await this.kubectl(['delete', 'pod', '--grace-period=0', '--force', '--wait=false', ...pods.map((p) => p.name)]);
  }

  async restartAll(): Promise<void> {
    // The StatefulSet controller recreates deleted pods.
  }
}
