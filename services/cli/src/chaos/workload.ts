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
}

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
  readonly stats: WorkloadStats = { ok: 0, failed: 0, retries: 0, unexpectedReads: [] };
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

  /** One operation with retries through other entry nodes until the deadline. */
  private async attempt<T>(op: (c: PastryClient) => Promise<T>): Promise<T | undefined> {
    const deadline = Date.now() + this.requestDeadlineMs;
    let first = true;
    while (Date.now() < deadline) {
      if (!first) {
        this.stats.retries++;
        await new Promise((r) => setTimeout(r, 100));
      }
      first = false;
      const entry = this.entries[Math.floor(this.random() * this.entries.length)];
      if (!entry) continue;
      try {
        return await op(this.client(entry.address));
      } catch {
        // During churn even NOT_FOUND may be transient (a new root still filling): retry.
      }
    }
    return undefined;
  }

  private count(ok: boolean): void {
    if (!this.counting) return;
    if (ok) this.stats.ok++;
    else this.stats.failed++;
  }

  async write(): Promise<void> {
    const name = `chaos-${this.seed}-${this.next++}`;
    this.uncertain.add(name);
    const res = await this.attempt((c) => c.put(name, valueFor(name, this.seed)));
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
    const res = await this.attempt((c) => c.get(name));
    if (res && !res.value.equals(valueFor(name, this.seed))) this.stats.unexpectedReads.push(name);
    this.count(res !== undefined);
  }

  /** Runs `workers` loops of alternating writes and reads until `stop()` says so. */
  async run(workers: number, stop: () => boolean): Promise<void> {
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
      const res = await this.attempt((c) => c.get(name));
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
