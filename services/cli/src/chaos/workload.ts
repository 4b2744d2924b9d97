import { createHash } from 'node:crypto';
import { guidForName } from '../../../node/src/dht/guid';
import { PastryClient } from '../client';
import type { ChaosPod } from './killers';

export interface WorkloadStats {
  ok: number;
  failed: number;
  /** Attempts that failed and were retried within the request deadline. */
  retries: number;
  /** Reads of an acknowledged key that returned other bytes. */
  unexpectedReads: string[];
  /** The first failed operations, each with what its attempts met (for diagnosis). */
  failures: FailedOperation[];
}

export interface FailedOperation {
  op: 'put' | 'get';
  key: string;
  /** Seconds since the workload started. */
  atS: number;
  /** Every attempt: its entry node, seconds from the operation's start, and how it ended. */
  attempts: { entry: string; startS: number; endS: number | null; error: string | null }[];
}

/** Failed operations kept with their attempts in the report. */
const MAX_FAILURES_KEPT = 50;

/** While no attempt has answered, another starts beside them this often, through another entry node. */
const HEDGE_MS = 1000;
/** Attempts of one operation in flight at once. */
const MAX_ATTEMPTS_AT_ONCE = 3;

/** The value written to a key: derived from the key, so a read can be checked without state. */
export function valueFor(name: string, seed: number): Buffer {
  return createHash('sha256').update(`${seed}:${name}`).digest();
}

/**
 * Writes unique keys with known values and reads acknowledged ones back, through rotating
 * entry nodes. An operation may retry through other nodes within its deadline; it counts as
 * failed only when the deadline passes without success.
 */
export class Workload {
  readonly acknowledged = new Set<string>();
  /** Keys written but not acknowledged: they may or may not exist afterwards. */
  readonly uncertain = new Set<string>();
  readonly stats: WorkloadStats = { ok: 0, failed: 0, retries: 0, unexpectedReads: [], failures: [] };
  /** When run() began: failures' atS and the chaos report's killedAtS count from it. */
  startedAt = Date.now();
  private readonly clients = new Map<string, PastryClient>();
  private next = 0;
  private entries: ChaosPod[] = [];
  counting = true;

  constructor(
    private readonly seed: number,
    private readonly random: () => number,
    private readonly requestDeadlineMs: number,
  ) {}

  setEntries(pods: ChaosPod[]): void {
    if (pods.length > 0) this.entries = pods;
  }

  private client(address: string): PastryClient {
    let c = this.clients.get(address);
    if (!c) this.clients.set(address, (c = new PastryClient(address, Math.min(this.requestDeadlineMs, 3000))));
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /**
   * One operation through rotating entry nodes until the deadline: an attempt that fails is
   * made again through another entry, and while none has answered, another starts beside
   * them every HEDGE_MS (hedged requests, as in "The Tail at Scale"), so that an entry or a
   * root that died with the request, silently, does not take the whole deadline. The first
   * answer wins; every attempt after the first counts as a retry.
   */
  private attempt<T>(op: (c: PastryClient) => Promise<T>, what: { op: 'put' | 'get'; key: string }): Promise<T | undefined> {
    const begun = Date.now();
    const deadline = begun + this.requestDeadlineMs;
    const attempts: FailedOperation['attempts'] = [];
    const seconds = (): number => (Date.now() - begun) / 1000;
    return new Promise((resolve) => {
      let done = false;
      let started = 0;
      const busy = new Set<string>();
      const timers = new Set<NodeJS.Timeout>();
      const later = (ms: number, fn: () => void): void => {
        const t = setTimeout(() => {
          timers.delete(t);
          fn();
        }, ms);
        timers.add(t);
      };
      const finish = (value: T | undefined): void => {
        if (done) return;
        done = true;
        for (const t of timers) clearTimeout(t);
        if (value === undefined && this.counting && this.stats.failures.length < MAX_FAILURES_KEPT) {
          this.stats.failures.push({ ...what, atS: (begun - this.startedAt) / 1000, attempts });
        }
        resolve(value);
      };
      later(Math.max(0, deadline - Date.now()), () => finish(undefined));
      const launch = (): void => {
        if (done || busy.size >= MAX_ATTEMPTS_AT_ONCE || Date.now() >= deadline) return;
        const idle = this.entries.filter((e) => !busy.has(e.address));
        const entry = idle[Math.floor(this.random() * idle.length)];
        if (!entry) return later(100, launch);
        if (started++ > 0) this.stats.retries++;
        busy.add(entry.address);
        later(HEDGE_MS, launch);
        const record: FailedOperation['attempts'][number] = { entry: entry.name, startS: seconds(), endS: null, error: null };
        attempts.push(record);
        op(this.client(entry.address)).then(
          (value) => finish(value),
          (err: unknown) => {
            record.endS = seconds();
            record.error = err instanceof Error ? err.message : String(err);
            // During churn even NOT_FOUND may be transient (a new root still filling): retry.
            busy.delete(entry.address);
            later(100, launch);
          },
        );
      };
      launch();
    });
  }

  private count(ok: boolean): void {
    if (!this.counting) return;
    if (ok) this.stats.ok++;
    else this.stats.failed++;
  }

  async write(): Promise<void> {
    const name = `chaos-${this.seed}-${this.next++}`;
    this.uncertain.add(name);
    const res = await this.attempt((c) => c.put(name, valueFor(name, this.seed)), { op: 'put', key: name });
    if (res) {
      this.uncertain.delete(name);
      this.acknowledged.add(name);
    }
    this.count(res !== undefined);
  }

  async read(): Promise<void> {
    if (this.acknowledged.size === 0) return;
    const keys = [...this.acknowledged];
    const name = keys[Math.floor(this.random() * keys.length)]!;
    const res = await this.attempt((c) => c.get(name), { op: 'get', key: name });
    if (res && !res.value.equals(valueFor(name, this.seed))) this.stats.unexpectedReads.push(name);
    this.count(res !== undefined);
  }

  /** Runs `workers` loops of alternating writes and reads until `stop()` says so. */
  async run(workers: number, stop: () => boolean): Promise<void> {
    this.startedAt = Date.now();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (!stop()) {
          if (this.random() < 0.5) await this.write();
          else await this.read();
        }
      }),
    );
  }

  /** Reads every key back at the end: lost, unexpected, and unacknowledged writes that exist. */
  async verify(concurrency = 16): Promise<{ lost: string[]; unexpected: string[]; recoveredUnacknowledged: number }> {
    const lost: string[] = [];
    const unexpected: string[] = [...this.stats.unexpectedReads];
    let recovered = 0;
    const check = async (name: string, acked: boolean): Promise<void> => {
      const res = await this.attempt((c) => c.get(name), { op: 'get', key: name });
      if (!res) {
        if (acked) lost.push(name);
        return;
      }
      if (!res.value.equals(valueFor(name, this.seed))) unexpected.push(name);
      else if (!acked) recovered++;
    };
    const work = [...[...this.acknowledged].map((n) => [n, true] as const), ...[...this.uncertain].map((n) => [n, false] as const)];
    let i = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (i < work.length) {
          const [name, acked] = work[i++]!;
          await check(name, acked);
        }
      }),
    );
    return { lost, unexpected: [...new Set(unexpected)], recoveredUnacknowledged: recovered };
  }

  guids(): string[] {
    return [...this.acknowledged].map(guidForName);
  }
}
