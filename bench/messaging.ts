/**
 * Messaging (Scribe) on a local ring (`make bench-messaging`, part of `make bench`):
 *   1. publish-to-delivery latency, 1 topic × 100 subscribers and 100 topics × 10 subscribers;
 *   2. throughput through one topic with N publishes in flight, delivery to 10 subscribers,
 *      and the CPU all node processes spend per message beside a bare grpc-js echo (the floor);
 *   3. churn: a steady publisher while a pod is killed (kill -9) every 10 s and restarted,
 *      once the topic's root; every subscriber's deliveries checked against the acknowledged
 *      publishes (lost, duplicated, out of order, gaps).
 * Publisher and subscribers run in this process, so send and receipt times share one clock.
 * Every process it starts is stopped at the end, also on an error or Ctrl-C.
 *
 *   node dist/bench/messaging.js [--nodes 16] [--quick] [--json] [--churn-seconds 60]
 *     [--subnet 127.0.33] [--log-level info] [--keep] [--only latency,throughput,churn] [--rate 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpuSecondsOf } from './proc';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { credentials, makeGenericClientConstructor, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { PastryClient } from '../services/cli/src/client';
import { clusterDown, clusterUp, readState, signalPod, startPod, waitForExit, type ClusterOptions, type ClusterState } from '../services/cli/src/cluster';
import { compareCloseness } from '../services/node/src/core/id';
import { MessagingClient, type PublishResponse, type SubscribeResponse } from '../services/node/src/gen/pastry/v1/messaging';
import { unaryCall } from '../services/node/src/rpc/unary-call';
import { topicId } from '../services/node/src/scribe/messages';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '16' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'churn-seconds': { type: 'string' },
    subnet: { type: 'string', default: '127.0.33' },
    'log-level': { type: 'string', default: 'info' },
    keep: { type: 'boolean', default: false },
    only: { type: 'string', default: 'latency,throughput,churn' },
    rate: { type: 'string', default: '10' },
  },
});
const QUICK = values.quick!;
const NODES = Number(values.nodes);
const PHASES = new Set(values.only!.split(','));
for (const p of PHASES) {
  if (['latency', 'throughput', 'churn'].includes(p)) continue;
  process.stderr.write(`bench-messaging: --only takes latency, throughput and churn (comma-separated), got ${JSON.stringify(p)}\n`);
  process.exit(2);
}
const SIZES = {
  latencyMessages: QUICK ? 100 : 1000,
  latencyRate: Number(values.rate),
  throughputSeconds: QUICK ? 3 : 10,
  inFlight: [1, 16, 64],
  idleSeconds: QUICK ? 2 : 5,
  churnSeconds: Number(values['churn-seconds'] ?? (QUICK ? 30 : 60)),
  churnRate: 50,
  killEveryS: 10,
  restartAfterS: 3,
};
const PAYLOAD_BYTES = 64;
const CALL_TIMEOUT_MS = 10_000;
/** Churn: publishes outstanding at most (retries included). */
const CHURN_WINDOW = 64;
/** As the CLI's subscriber: keepalive pings find a node that vanished without closing the connection. */
const CHANNEL = { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000, 'grpc.keepalive_permit_without_calls': 1, 'grpc.use_local_subchannel_pool': 1 };

const STARTED = performance.now();
const log = (line: string): void => void process.stderr.write(`[${((performance.now() - STARTED) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
/** Set once the bench stops what it started: no pod is restarted after that. */
let stopped = false;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** User + system CPU seconds of processes so far (/proc/<pid>/stat utime + stime, USER_HZ = 100). */
function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/** A payload that names the message: key in the first 4 bytes. */
function payloadFor(key: number): Buffer {
  const b = Buffer.alloc(PAYLOAD_BYTES);
  b.writeUInt32LE(key, 0);
  return b;
}

// ---------------------------------------------------------------- publisher

class Publisher {
  private readonly clients: MessagingClient[];
  private next = 0;
  /** Key → send time, for the latency of every delivery. */
  readonly sentAt = new Map<number, number>();
  private key = 0;

  get lastKey(): number {
    return this.key;
  }

  constructor(addresses: string[]) {
    this.clients = addresses.map((a) => new MessagingClient(a, credentials.createInsecure(), CHANNEL));
  }

  /** Publishes through the pods in turn (skipping `down`); the key and send time are recorded. */
  async publish(topic: string, down: ReadonlySet<number> = new Set(), timeoutMs = CALL_TIMEOUT_MS): Promise<{ key: number; sent: number; pod: number; response: PublishResponse }> {
    let pod = this.next++ % this.clients.length;
    while (down.has(pod)) pod = this.next++ % this.clients.length;
    const key = ++this.key;
    const client = this.clients[pod]!;
    const sent = now();
    this.sentAt.set(key, sent);
    const response = await unaryCall(client.publish.bind(client), { topic, payload: payloadFor(key), publisher: 'bench' }, { deadline: Date.now() + timeoutMs });
    return { key, sent, pod, response };
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

// ---------------------------------------------------------------- subscribers

interface Delivery {
  seq: number;
  id: string;
  key: number;
  at: number;
  /** The pod whose stream delivered it. */
  pod: number;
}

/**
 * One subscriber: its own channel and Subscribe stream to one pod. With `reconnect`, a
 * stream that fails is opened again through the next live pod from the last sequence + 1,
 * as a client would. Keeps every delivery for the checks.
 */
class Subscriber {
  pod: number;
  private client: MessagingClient | undefined;
  private call: ClientReadableStream<SubscribeResponse> | undefined;
  /** Newest sequence when the first subscription started: every later acknowledged message is due. */
  startSeq = -1;
  last = 0;
  readonly deliveries: Delivery[] = [];
  readonly gaps: { first: number; last: number }[] = [];
  reconnects = 0;
  streamErrors: string[] = [];
  private closed = false;
  onMessage: (d: Delivery) => void = () => undefined;

  constructor(
    readonly topic: string,
    pod: number,
    private readonly addresses: string[],
    private readonly reconnect?: { down: ReadonlySet<number> },
  ) {
    this.pod = pod;
  }

  /** Opens the stream; resolves at the `subscribed` event. */
  open(fromSequence = 0): Promise<void> {
    this.client?.close();
    this.client = new MessagingClient(this.addresses[this.pod]!, credentials.createInsecure(), CHANNEL);
    const call = this.client.subscribe({ topic: this.topic, fromSequence, inbox: '' });
    this.call = call;
    return new Promise<void>((resolve, reject) => {
      let confirmed = false;
      const timer = setTimeout(() => {
        if (!confirmed) call.cancel();
      }, 30_000);
      call.on('data', (event: SubscribeResponse) => {
        if (event.subscribed) {
          confirmed = true;
          clearTimeout(timer);
          if (this.startSeq < 0) this.startSeq = event.subscribed.sequence;
          resolve();
        } else if (event.message) {
          const d: Delivery = { seq: event.message.sequence, id: event.message.id.toString('hex'), key: event.message.payload.readUInt32LE(0), at: now(), pod: this.pod };
          this.deliveries.push(d);
          this.last = Math.max(this.last, d.seq);
          this.onMessage(d);
        } else if (event.gap) this.gaps.push({ first: event.gap.first, last: event.gap.last });
      });
      let over = false;
      const ended = (error?: ServiceError): void => {
        clearTimeout(timer);
        if (over || call !== this.call || this.closed) return;
        over = true;
        if (error) this.streamErrors.push(`${error.code} ${error.details}`);
        if (!confirmed) reject(error ?? new Error(`${this.addresses[this.pod]}: the stream ended before it was confirmed`));
        else if (this.reconnect) void this.again();
      };
      call.on('error', ended);
      call.on('end', () => ended());
    });
  }

  /** Through the next live pod, from the last sequence received + 1. */
  private async again(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      await sleep(attempt === 0 ? 50 : 250);
      do this.pod = (this.pod + 1) % this.addresses.length;
      while (this.reconnect!.down.has(this.pod));
      this.reconnects++;
      try {
        return await this.open(Math.max(this.last, this.startSeq) + 1);
      } catch (error) {
        this.streamErrors.push(`reconnect: ${(error as Error).message}`);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.call?.cancel();
    this.client?.close();
  }
}

/** Opens every subscriber, `parallel` at a time; a refused subscribe is tried again (as a client does). Resolves with the retries. */
async function openAll(subs: Subscriber[], parallel = 32): Promise<number> {
  let next = 0;
  let retries = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < subs.length) {
      const sub = subs[next++]!;
      for (let attempt = 1; ; attempt++) {
        try {
          await sub.open();
          break;
        } catch (error) {
          if (attempt >= 10) throw error;
          retries++;
          await sleep(300);
        }
      }
    }
  }));
  return retries;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) return false;
    await sleep(50);
  }
  return true;
}

// ---------------------------------------------------------------- 1. latency

interface LatencyRow {
  scenario: string;
  /** Subscribers that did not get every acknowledged message of their topic (none when the contract holds). */
  missing: { subscriber: number; topic: string; pod: string; startSeq: number; lost: { seq: number; ackS: number }[]; delivered: number[]; gaps: { first: number; last: number }[]; errors: string[] }[];
  /** CPU of this process (publisher and subscribers) per published message. */
  benchCpuMsPerMessage: number;
  published: number;
  failed: number;
  expected: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  ackP50Ms: number;
}

async function latency(name: string, addresses: string[], topics: string[], perTopic: number, messages: number, rate: number): Promise<LatencyRow> {
  const pub = new Publisher(addresses);
  const subs = topics.flatMap((t, ti) => Array.from({ length: perTopic }, (_, i) => new Subscriber(t, (ti * perTopic + i) % addresses.length, addresses)));
  const latencies: number[] = [];
  const acks: number[] = [];
  const ackedOf = new Map<string, { key: number; seq: number; ackS: number }[]>();
  let failed = 0;
  try {
    const retries = await openAll(subs);
    log(`  ${name}: ${subs.length} subscribed${retries ? ` (${retries} subscribes refused and tried again)` : ''}`);
    for (const s of subs) s.onMessage = (d) => latencies.push(d.at - pub.sentAt.get(d.key)!);
    await sleep(1000);
    const own0 = process.cpuUsage();
    const t0 = now();
    const calls: Promise<void>[] = [];
    for (let i = 0; i < messages; i++) {
      const wait = t0 + (i * 1000) / rate - now();
      if (wait > 0) await sleep(wait);
      const topic = topics[i % topics.length]!;
      calls.push(pub.publish(topic).then((r) => {
        acks.push(now() - r.sent);
        ackedOf.set(topic, [...(ackedOf.get(topic) ?? []), { key: r.key, seq: r.response.sequence, ackS: (now() - t0) / 1000 }]);
      }, () => void failed++));
    }
    await Promise.all(calls);
    const expected = acks.length * perTopic;
    await waitFor(() => latencies.length >= expected, 15_000);
    const own = process.cpuUsage(own0);
    // Subscribers that did not get every acknowledged message of their topic.
    const missing = subs.flatMap((s, i) => {
      const got = new Set(s.deliveries.map((d) => d.key));
      const lost = (ackedOf.get(s.topic) ?? []).filter((a) => a.seq > s.startSeq && !got.has(a.key));
      return lost.length === 0 ? [] : [{ subscriber: i, topic: s.topic, pod: `pastry-${s.pod}`, startSeq: s.startSeq, lost: lost.map((a) => ({ seq: a.seq, ackS: a.ackS })), delivered: s.deliveries.map((d) => d.seq), gaps: s.gaps, errors: s.streamErrors }];
    });
    return { scenario: name, missing, benchCpuMsPerMessage: (own.user + own.system) / 1000 / Math.max(1, acks.length), published: acks.length, failed, expected, delivered: latencies.length, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: quantile(latencies, 1), ackP50Ms: quantile(acks, 0.5) };
  } finally {
    subs.forEach((s) => s.close());
    pub.close();
  }
}

// ---------------------------------------------------------------- 2. throughput and CPU

interface ThroughputRow {
  inFlight: number;
  acked: number;
  ackedPerS: number;
  ackP50Ms: number;
  ackP99Ms: number;
  deliveredPerSubPerS: number;
  deliveredShare: number;
  nodeCpuMsPerMessage: number;
}

async function throughput(addresses: string[], pids: number[], topic: string, subscribers: number): Promise<{ rows: ThroughputRow[]; idleCpuPerS: number }> {
  const pub = new Publisher(addresses);
  const subs = Array.from({ length: subscribers }, (_, i) => new Subscriber(topic, (i * 3) % addresses.length, addresses));
  try {
    await openAll(subs);
    // Warm-up (channels, JIT, the tree), then the idle baseline with the subscribers connected.
    for (let i = 0; i < 50; i++) await pub.publish(topic);
    await sleep(1000);
    const c0 = cpuSeconds(pids);
    await sleep(SIZES.idleSeconds * 1000);
    const idleCpuPerS = (cpuSeconds(pids) - c0) / SIZES.idleSeconds;
    const rows: ThroughputRow[] = [];
    for (const n of SIZES.inFlight) {
      const got = subs.map(() => 0);
      let lastDelivery = 0;
      // Keys are given in order at send time: this row's messages are those after `before`.
      const before = pub.lastKey;
      subs.forEach((s, i) => (s.onMessage = (d) => {
        if (d.key > before) {
          got[i]!++;
          lastDelivery = d.at;
        }
      }));
      const acks: number[] = [];
      const cpu0 = cpuSeconds(pids);
      const t0 = now();
      const end = t0 + SIZES.throughputSeconds * 1000;
      await Promise.all(Array.from({ length: n }, async () => {
        while (now() < end) {
          try {
            const r = await pub.publish(topic);
            acks.push(now() - r.sent);
          } catch {
            // counted as not acknowledged
          }
        }
      }));
      const tAcked = now();
      await waitFor(() => got.every((g) => g >= acks.length), 15_000);
      const cpu = cpuSeconds(pids) - cpu0 - idleCpuPerS * ((now() - t0) / 1000);
      const delivered = got.reduce((a, b) => a + b, 0);
      rows.push({
        inFlight: n,
        acked: acks.length,
        ackedPerS: acks.length / ((tAcked - t0) / 1000),
        ackP50Ms: quantile(acks, 0.5),
        ackP99Ms: quantile(acks, 0.99),
        deliveredPerSubPerS: delivered / subs.length / ((Math.max(lastDelivery, t0 + 1) - t0) / 1000),
        deliveredShare: delivered / (acks.length * subs.length),
        nodeCpuMsPerMessage: (cpu * 1000) / Math.max(1, acks.length),
      });
      log(`  throughput, ${n} in flight: ${rows.at(-1)!.ackedPerS.toFixed(0)} acked/s, ${rows.at(-1)!.nodeCpuMsPerMessage.toFixed(2)} node CPU ms/message`);
      await sleep(1000);
    }
    return { rows, idleCpuPerS };
  } finally {
    subs.forEach((s) => s.close());
    pub.close();
  }
}

/** The floor: bench/echo-server.mjs (bare grpc-js, raw bytes) in its own process, same payload. */
const ECHO = {
  echo: { path: '/bench.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b },
};

interface FloorRow {
  inFlight: number;
  callsPerS: number;
  p50Ms: number;
  serverCpuMsPerCall: number;
}

async function echoFloor(host: string, procs: ChildProcess[]): Promise<FloorRow[]> {
  const server = spawn(process.execPath, [path.resolve(__dirname, '../../bench/echo-server.mjs'), host], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(server);
  const address = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (b: Buffer) => {
      const m = /listening (\S+)/.exec(b.toString());
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`the echo server exited ${code}`)));
  });
  const Echo = makeGenericClientConstructor(ECHO, 'Echo');
  const client = new Echo(address, credentials.createInsecure());
  const call = (): Promise<void> => new Promise((resolve, reject) => client.makeUnaryRequest(ECHO.echo.path, ECHO.echo.requestSerialize, ECHO.echo.responseDeserialize, payloadFor(1), { deadline: Date.now() + CALL_TIMEOUT_MS }, (e: ServiceError | null) => (e ? reject(e) : resolve())));
  try {
    for (let i = 0; i < 500; i++) await call();
    const rows: FloorRow[] = [];
    const seconds = Math.min(SIZES.throughputSeconds, QUICK ? 2 : 3);
    for (const n of SIZES.inFlight) {
      const rtts: number[] = [];
      const cpu0 = cpuSeconds([server.pid!]);
      const t0 = now();
      const end = t0 + seconds * 1000;
      await Promise.all(Array.from({ length: n }, async () => {
        while (now() < end) {
          const t = now();
          await call();
          rtts.push(now() - t);
        }
      }));
      const elapsed = (now() - t0) / 1000;
      rows.push({ inFlight: n, callsPerS: rtts.length / elapsed, p50Ms: quantile(rtts, 0.5), serverCpuMsPerCall: ((cpuSeconds([server.pid!]) - cpu0) * 1000) / rtts.length });
    }
    return rows;
  } finally {
    client.close();
    server.kill('SIGTERM');
  }
}

// ---------------------------------------------------------------- 3. churn

interface Kill {
  atS: number;
  pod: string;
  root: boolean;
  restartedAtS?: number;
  subscribersMoved: number;
}

interface SubscriberCheck {
  subscriber: number;
  pods: string;
  delivered: number;
  lost: number[];
  /** Ids of the acknowledged messages it never got. */
  lostIds: string[];
  inGap: number;
  duplicates: number[];
  outOfOrder: number[];
  wrongId: number[];
  gapEvents: number;
  gaps: { first: number; last: number }[];
  reconnects: number;
}

/** The live pod whose id is closest to the topic's id (ties: the lower id), as the overlay picks. */
function rootOf(topic: string, state: ClusterState, down: ReadonlySet<number>): number {
  const key = topicId(topic);
  const live = state.pods.filter((p) => !down.has(p.ordinal));
  return live.sort((a, b) => compareCloseness(key, a.id, b.id))[0]!.ordinal;
}

type ChurnResult = Awaited<ReturnType<typeof churn>>;

async function churn(runDir: string, options: ClusterOptions, env: NodeJS.ProcessEnv, topic: string, subscribers: number) {
  const state = readState(runDir)!;
  const addresses = state.pods.map((p) => p.address);
  const down = new Set<number>();
  const rootAtStart = rootOf(topic, state, down);
  const routed = await new PastryClient(addresses[0]!, 5000).route(topicId(topic)).then((r) => r.root?.name ?? '?', (e: Error) => `route failed: ${e.message}`);
  log(`  churn topic ${topic}: root ${state.pods[rootAtStart]!.name} (pastry route names ${routed})`);
  const pub = new Publisher(addresses);
  const subs = Array.from({ length: subscribers }, (_, i) => new Subscriber(topic, i % addresses.length, addresses, { down }));
  const acked = new Map<number, Ack[]>();
  const reusedSeqs: number[] = [];
  const rootViews: RootView[] = [];
  const latencies: number[] = [];
  let failed = 0;
  let gaveUp = 0;
  const failures = new Map<string, number>();
  const kills: Kill[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    await openAll(subs);
    for (const s of subs) s.onMessage = (d) => latencies.push(d.at - pub.sentAt.get(d.key)!);
    const t0 = now();
    const at = (): number => (now() - t0) / 1000;
    let watching = true;
    const watcher = watchRoots(topic, state, down, at, rootViews, () => watching);
    // The kills: every killEveryS, one pod (not one already down); the second kill (or the only one) takes the root.
    const killTimes = Array.from({ length: Math.max(0, Math.ceil(SIZES.churnSeconds / SIZES.killEveryS) - 1) }, (_, i) => (i + 1) * SIZES.killEveryS);
    const rootKill = Math.min(1, killTimes.length - 1);
    let victimCursor = 5;
    killTimes.forEach((tS, i) => {
      timers.push(setTimeout(() => {
        const root = rootOf(topic, readState(runDir)!, down);
        let victim = root;
        if (i !== rootKill) {
          do victim = victimCursor++ % addresses.length;
          while (victim === root || down.has(victim));
        }
        const kill: Kill = { atS: at(), pod: state.pods[victim]!.name, root: victim === root, subscribersMoved: subs.filter((s) => s.pod === victim).length };
        kills.push(kill);
        down.add(victim);
        const pid = signalPod(runDir, kill.pod, 'SIGKILL').pid;
        log(`  churn: t=${kill.atS.toFixed(1)} s kill -9 ${kill.pod}${kill.root ? ' (the root)' : ''}, ${kill.subscribersMoved} subscribers on it`);
        timers.push(setTimeout(() => void waitForExit([pid], 5000).then(() => {
          if (stopped) return;
          const s = readState(runDir)!;
          startPod(s, victim, options, env);
          kill.restartedAtS = at();
          // Clients go back to a pod once it answers again (a Service would route to it when ready).
          setTimeout(() => down.delete(victim), 2000);
          log(`  churn: t=${kill.restartedAtS.toFixed(1)} s ${kill.pod} restarted`);
        }), SIZES.restartAfterS * 1000));
      }, tS * 1000));
    });
    // The publisher: a steady rate, at most CHURN_WINDOW publishes outstanding (retries
    // included), so that an outage does not turn into a storm of retries; a publish that
    // fails is retried with a fresh one after a short wait.
    const timeline = Array.from({ length: Math.ceil(SIZES.churnSeconds / 5) + 1 }, () => ({ acked: 0, failed: 0 }));
    const bucket = (): { acked: number; failed: number } => timeline[Math.min(timeline.length - 1, Math.floor(at() / 5))]!;
    const giveUpAt = t0 + (SIZES.churnSeconds + 60) * 1000;
    let outstanding = 0;
    let sent = 0;
    const calls: Promise<void>[] = [];
    const publishOne = async (): Promise<void> => {
      outstanding++;
      try {
        while (now() < giveUpAt) {
          try {
            const r = await pub.publish(topic, down, 5000);
            const ack: Ack = { seq: r.response.sequence, id: r.response.id.toString('hex'), key: r.key, pod: state.pods[r.pod]!.name, sentS: (r.sent - t0) / 1000, ackS: at() };
            if (acked.has(ack.seq)) reusedSeqs.push(ack.seq);
            acked.set(ack.seq, [...(acked.get(ack.seq) ?? []), ack]);
            bucket().acked++;
            return;
          } catch (error) {
            failed++;
            bucket().failed++;
            const e = error as ServiceError;
            const why = `${e.code ?? ''} ${String(e.details ?? e.message).replace(/ after [\d.]+s,.*$/, '').replace(/\d+\.\d+\.\d+\.\d+:\d+/g, '<pod>').slice(0, 90)}`;
            failures.set(why, (failures.get(why) ?? 0) + 1);
            await sleep(250);
          }
        }
        gaveUp++;
      } finally {
        outstanding--;
      }
    };
    for (let i = 0; i < SIZES.churnSeconds * SIZES.churnRate; i++) {
      const wait = t0 + (i * 1000) / SIZES.churnRate - now();
      if (wait > 0) await sleep(wait);
      if (now() - t0 > SIZES.churnSeconds * 1000) break;
      while (outstanding >= CHURN_WINDOW) await sleep(5);
      sent++;
      calls.push(publishOne());
    }
    const publishEnd = at();
    await Promise.all(calls);
    const maxSeq = Math.max(0, ...acked.keys());
    const drained = await waitFor(() => subs.every((s) => s.last >= maxSeq), 20_000);
    await sleep(1000); // late duplicates
    watching = false;
    await watcher;
    const checks = subs.map((s, i) => checkSubscriber(i, s, acked, state));
    const events = nodeEvents(runDir, topic, Date.now() - (now() - t0), Date.now());
    const conflicts = conflictsOf(acked, subs, t0);
    const splitViews = rootViews.filter((v) => new Set(Object.values(v.roots).filter((r) => r !== 'error')).size > 1);
    return {
      topic, rootAtStart: state.pods[rootAtStart]!.name, routedRoot: routed, seconds: SIZES.churnSeconds, rate: SIZES.churnRate, sent, publishEnd,
      rootViews, splitViews, conflicts,
      trace: { acks: [...acked.values()].flat(), deliveries: subs.map((x) => x.deliveries.map((d) => ({ seq: d.seq, id: d.id, atS: (d.at - t0) / 1000, pod: state.pods[d.pod]!.name }))) },
      acked: [...acked.values()].flat().length, failed, gaveUp, failures: Object.fromEntries([...failures].sort((a, b) => b[1] - a[1])), reusedSeqs, drained, kills, checks, timeline, events,
      latencyP50Ms: quantile(latencies, 0.5), latencyP99Ms: quantile(latencies, 0.99), latencyMaxMs: quantile(latencies, 1), streamErrors: subs.map((s) => s.streamErrors),
    };
  } finally {
    timers.forEach(clearTimeout);
    subs.forEach((s) => s.close());
    pub.close();
  }
}

interface Ack {
  seq: number;
  id: string;
  key: number;
  /** Entry pod of the publish. */
  pod: string;
  sentS: number;
  ackS: number;
}

/** Which node each live pod routes the topic's id to, when that changes. */
interface RootView {
  atS: number;
  roots: Record<string, string>;
}

/** Every second, `pastry route <topic id>` from each live pod; a view is kept when it changes. */
async function watchRoots(topic: string, state: ClusterState, down: ReadonlySet<number>, at: () => number, views: RootView[], going: () => boolean): Promise<void> {
  const key = topicId(topic);
  const clients = state.pods.map((p) => new PastryClient(p.address, 1500));
  try {
    while (going()) {
      const t = at();
      const roots: Record<string, string> = {};
      await Promise.all(state.pods.map(async (p, i) => {
        if (down.has(i)) return;
        roots[p.name] = await clients[i]!.route(key).then((r) => r.root?.name ?? '?', () => 'error');
      }));
      const last = views.at(-1);
      if (!last || JSON.stringify(Object.entries(last.roots).sort()) !== JSON.stringify(Object.entries(roots).sort())) views.push({ atS: t, roots });
      await sleep(Math.max(0, 1000 - (at() - t) * 1000));
    }
  } finally {
    clients.forEach((c) => c.close());
  }
}

/** Sequences delivered with an id no acknowledgement of that sequence carries (two numberings of one sequence). */
function conflictsOf(acked: Map<number, Ack[]>, subs: Subscriber[], t0: number) {
  const out: { seq: number; acks: Ack[]; delivered: { id: string; subscribers: number[]; firstAtS: number; via: string[] }[] }[] = [];
  for (const [seq, acks] of [...acked].sort((a, b) => a[0] - b[0])) {
    const byId = new Map<string, { id: string; subscribers: number[]; firstAtS: number; via: Set<string> }>();
    subs.forEach((s, i) => {
      for (const d of s.deliveries) {
        if (d.seq !== seq) continue;
        const e = byId.get(d.id) ?? { id: d.id, subscribers: [], firstAtS: Infinity, via: new Set<string>() };
        e.subscribers.push(i);
        e.firstAtS = Math.min(e.firstAtS, (d.at - t0) / 1000);
        e.via.add(`pastry-${d.pod}`);
        byId.set(d.id, e);
      }
    });
    if (acks.length > 1 || [...byId.keys()].some((id) => !acks.some((a) => a.id === id))) out.push({ seq, acks, delivered: [...byId.values()].map((e) => ({ ...e, via: [...e.via] })) });
  }
  return out;
}

/** From the pods' logs in the run dir: the node events of the churn window (root moves of the topic, peers declared failed). */
function nodeEvents(runDir: string, topic: string, fromMs: number, toMs: number): Record<string, number> {
  const counts: Record<string, number> = {};
  const dir = path.join(runDir, 'logs');
  for (const file of readdirSync(dir).filter((f) => /^pastry-\d+\.log$/.test(f))) {
    for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const e = JSON.parse(line) as { time: string; event: string; topic?: string; level: string };
        const t = Date.parse(e.time);
        if (t < fromMs || t > toMs || (e.topic !== undefined && e.topic !== topic)) continue;
        if (e.level === 'warn' || e.level === 'error' || e.event.startsWith('scribe_') || e.event === 'partition_merge') counts[e.event] = (counts[e.event] ?? 0) + 1;
      } catch {
        // not a log line
      }
    }
  }
  return counts;
}

function checkSubscriber(index: number, s: Subscriber, acked: Map<number, Ack[]>, state: ClusterState): SubscriberCheck {
  const seen = new Map<number, string>();
  const duplicates: number[] = [];
  const outOfOrder: number[] = [];
  const wrongId: number[] = [];
  let high = 0;
  for (const d of s.deliveries) {
    if (seen.has(d.seq)) duplicates.push(d.seq);
    else if (d.seq < high) outOfOrder.push(d.seq);
    seen.set(d.seq, d.id);
    high = Math.max(high, d.seq);
    const a = acked.get(d.seq);
    if (a && !a.some((x) => x.id === d.id)) wrongId.push(d.seq);
  }
  const ids = new Set(s.deliveries.map((d) => d.id));
  const inGap = (seq: number): boolean => s.gaps.some((g) => seq >= g.first && seq <= g.last);
  // Due: every acknowledged message numbered after the subscription started, by its id.
  const missing = [...acked.values()].flat().filter((a) => a.seq > s.startSeq && !ids.has(a.id)).sort((a, b) => a.seq - b.seq);
  const due = missing.map((a) => a.seq);
  return {
    subscriber: index,
    pods: `${state.pods[index % state.pods.length]!.name}${s.reconnects ? `→…→${state.pods[s.pod]!.name}` : ''}`,
    delivered: s.deliveries.length,
    lost: due.filter((seq) => !inGap(seq)),
    lostIds: missing.filter((a) => !inGap(a.seq)).map((a) => a.id),
    inGap: due.filter(inGap).length,
    duplicates,
    outOfOrder,
    wrongId,
    gapEvents: s.gaps.length,
    gaps: s.gaps,
    reconnects: s.reconnects,
  };
}

// ---------------------------------------------------------------- tables

function table(header: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...cells.map(line)].join('\n');
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
/** 3,4,5,9 → "3-5,9". */
function ranges(xs: number[]): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(',');
}
const list = (xs: number[]): string => (xs.length === 0 ? '0' : `${xs.length} (${xs.slice(0, 5).join(',')}${xs.length > 5 ? ',…' : ''})`);


function renderLatency(lat: LatencyRow[]): string[] {
  const notes = lat.flatMap((r) => (r.missing.length === 0 ? [] : [
    `${r.scenario}: ${r.missing.length} subscribers missed acknowledged messages (${r.missing.reduce((a, m) => a + m.lost.length, 0)} deliveries), on ${new Set(r.missing.map((m) => m.topic)).size} topics, subscribed through ${[...new Set(r.missing.map((m) => m.pod))].sort().join(', ')}`,
    ...r.missing.slice(0, 6).map((m) => `  subscriber ${m.subscriber} (${m.topic} via ${m.pod}, subscribed at seq ${m.startSeq}): missed seq ${m.lost.map((l) => l.seq).join(',')}; got ${m.delivered.join(',') || 'nothing'}${m.gaps.length ? `; gaps ${JSON.stringify(m.gaps)}` : ''}${m.errors.length ? `; errors ${m.errors.join(' | ')}` : ''}`),
  ]));
  return [
    `\n1. publish → delivery latency (${SIZES.latencyMessages} messages at ${SIZES.latencyRate}/s, ${PAYLOAD_BYTES} B payload, publishes through the pods in turn)\n`,
    table(['scenario', 'acked', 'failed', 'delivered / due', 'p50 ms', 'p99 ms', 'max ms', 'ack p50 ms', 'bench process CPU ms / message'], lat.map((r) => [r.scenario, r.published, r.failed, `${r.delivered} / ${r.expected}`, f(r.p50Ms), f(r.p99Ms), f(r.maxMs), f(r.ackP50Ms), f(r.benchCpuMsPerMessage)])),
    ...notes,
  ];
}

function renderThroughput(tp: { rows: ThroughputRow[]; idleCpuPerS: number; floor: FloorRow[] }): string[] {
  return [
    `\n2. one topic, 10 subscribers: ${SIZES.throughputSeconds} s per row; node CPU = all ${NODES} node processes, idle ${f(tp.idleCpuPerS * 1000, 0)} CPU ms/s subtracted\n`,
    table(['in flight', 'acked msgs/s', 'ack p50 ms', 'ack p99 ms', 'delivered msgs/s per subscriber', 'delivered', 'node CPU ms / message', 'echo floor calls/s', 'echo server CPU ms / call', 'CPU × floor'], tp.rows.map((r, i) => {
      const fl = tp.floor[i]!;
      return [r.inFlight, f(r.ackedPerS, 0), f(r.ackP50Ms), f(r.ackP99Ms), f(r.deliveredPerSubPerS, 0), `${f(100 * r.deliveredShare, 1)} %`, f(r.nodeCpuMsPerMessage, 2), f(fl.callsPerS, 0), f(fl.serverCpuMsPerCall, 3), f(r.nodeCpuMsPerMessage / fl.serverCpuMsPerCall, 0)];
    })),
  ];
}

function renderChurn(ch: ChurnResult): string[] {
  const out: string[] = [];
  out.push(`\n3. churn: topic ${ch.topic} (root ${ch.rootAtStart}; pastry route: ${ch.routedRoot}), ${ch.checks.length} subscribers, ${ch.rate} publishes/s for ${ch.seconds} s, kill -9 every ${SIZES.killEveryS} s, restart after ${SIZES.restartAfterS} s\n`);
  out.push(table(['t (s)', 'killed', 'the root', 'subscribers on it', 'restarted at (s)'], ch.kills.map((k) => [f(k.atS), k.pod, k.root ? 'yes' : 'no', k.subscribersMoved, k.restartedAtS === undefined ? '–' : f(k.restartedAtS)])));
  out.push('');
  const sum = (fn: (c: SubscriberCheck) => number): number => ch.checks.reduce((a, c) => a + fn(c), 0);
  out.push(table(['', 'value'], [
    [`publishes started (steady rate, at most ${CHURN_WINDOW} outstanding)`, `${ch.sent} in ${f(ch.publishEnd)} s`],
    ['publishes acknowledged', ch.acked],
    ['publishes failed (retried with a fresh publish)', `${ch.failed}${ch.gaveUp ? `, ${ch.gaveUp} given up` : ''}`],
    ['sequences acknowledged twice (numbering reused)', list(ch.reusedSeqs)],
    ['lost: acknowledged, never delivered (summed over subscribers)', sum((c) => c.lost.length)],
    ['  distinct acknowledged messages lost to one subscriber or more', new Set(ch.checks.flatMap((c) => c.lostIds)).size],
    ['  of which inside a reported gap', sum((c) => c.inGap)],
    ['duplicates (all subscribers)', sum((c) => c.duplicates.length)],
    ['out of order (all subscribers)', sum((c) => c.outOfOrder.length)],
    ['delivered with another id than acknowledged', sum((c) => c.wrongId.length)],
    ['gap events', sum((c) => c.gapEvents)],
    ['reconnects', sum((c) => c.reconnects)],
    ['every subscriber caught up after the publisher stopped', ch.drained ? 'yes' : 'no'],
    ['delivery latency p50 / p99 / max ms', `${f(ch.latencyP50Ms)} / ${f(ch.latencyP99Ms)} / ${f(ch.latencyMaxMs)}`],
  ]));
  out.push('\npublishes acknowledged / failed attempts, per 5 s of the churn (t from the start of the publisher)\n');
  out.push(table(['t (s)', ...ch.timeline.map((_, i) => `${i * 5}–${i * 5 + 5}`)], [['acked', ...ch.timeline.map((b) => b.acked)], ['failed', ...ch.timeline.map((b) => b.failed)]]));
  const notable = ch.checks.filter((c) => c.reconnects + c.gapEvents + c.lost.length + c.duplicates.length + c.outOfOrder.length + c.wrongId.length > 0);
  out.push(`\nsubscribers that reconnected, saw a gap or a violation (${ch.checks.length - notable.length} others: every message once, in order)\n`);
  out.push(table(['subscriber', 'pods', 'delivered', 'lost', 'duplicates', 'out of order', 'gap events (ranges)', 'reconnects'], notable.map((c) => [c.subscriber, c.pods, c.delivered, list(c.lost), list(c.duplicates), list(c.outOfOrder), c.gapEvents === 0 ? '0' : `${c.gapEvents} (${c.gaps.slice(0, 4).map((g) => (g.first === g.last ? g.first : `${g.first}-${g.last}`)).join(',')}${c.gaps.length > 4 ? ',…' : ''})`, c.reconnects])));
  out.push(`\nthe topic's root as routed from each live pod, every second: ${ch.rootViews.length} distinct views, ${ch.splitViews.length} naming more than one root`);
  for (const v of ch.splitViews.slice(0, 8)) {
    const by = new Map<string, string[]>();
    for (const [from, root] of Object.entries(v.roots)) by.set(root, [...(by.get(root) ?? []), from]);
    out.push(`  t=${f(v.atS)} s: ${[...by].sort((a, b) => b[1].length - a[1].length).map(([root, from]) => (from.length > 3 ? `${root} (${from.length} pods)` : `${root} (from ${from.join(', ')})`)).join('; ')}`);
  }
  if (ch.conflicts.length > 0) {
    out.push(`sequences numbered twice (acknowledged twice, or delivered with an id no acknowledgement of it has): ${ch.conflicts.length}, ${ranges(ch.conflicts.map((c) => c.seq))}`);
    for (const c of ch.conflicts.slice(0, 4)) {
      out.push(`  seq ${c.seq}: acked ${c.acks.map((a) => `${a.id.slice(0, 8)} via ${a.pod} at t=${f(a.ackS)} s`).join(' and ')}; delivered ${c.delivered.map((d) => `${d.id.slice(0, 8)} to ${d.subscribers.length} subscribers (first at t=${f(d.firstAtS)} s)`).join(', ')}`);
    }
  }
  out.push(`\nnode log events during the churn (all pods): ${Object.entries(ch.events).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  if (Object.keys(ch.failures).length > 0) out.push(`failed publishes by error: ${Object.entries(ch.failures).slice(0, 8).map(([k, v]) => `${v}× ${k}`).join('; ')}`);
  return out;
}

// ---------------------------------------------------------------- main

/** Refuses to start when something already answers on the ring's addresses (another ring on the subnet). */
async function checkSubnetFree(subnet: string, nodes: number): Promise<void> {
  const busy = await Promise.all(Array.from({ length: nodes }, (_, i) => new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: `${subnet}.${i + 1}`, port: 7000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  })));
  const taken = busy.flatMap((b, i) => (b ? [`${subnet}.${i + 1}:7000`] : []));
  if (taken.length > 0) throw new Error(`something already listens on ${taken.join(', ')}: another ring on this subnet? (--subnet chooses another)`);
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'pastry-bench-messaging-'));
  const runDir = path.join(work, 'ring');
  const subnet = values.subnet!;
  const options: ClusterOptions = { runDir, port: 7000, metricsPort: 9464, storage: 'memory', subnet };
  const env = { ...process.env, PASTRY_LOG_LEVEL: values['log-level']! };
  const procs: ChildProcess[] = [];
  let keep = values.keep!;
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      stopped = true;
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
      await clusterDown(runDir, 5000).catch((e: unknown) => log(`cluster down: ${String(e)}`));
      if (keep) log(`run directory kept: ${runDir} (logs in ${path.join(runDir, 'logs')})`);
      else rmSync(work, { recursive: true, force: true });
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopAll().then(() => process.exit(130)));
  const machine = { nproc: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString(), loadAtStart: os.loadavg()[0]!, loadAtEnd: NaN };
  const nonce = Math.random().toString(36).slice(2, 8);
  try {
    log(`messaging bench: ${NODES} nodes on ${subnet}.x, memory store${QUICK ? ', --quick' : ''}; ${machine.nproc} CPUs, node ${machine.node}`);
    await checkSubnetFree(subnet, NODES);
    const state = await clusterUp(NODES, options, 180_000, env);
    const addresses = state.pods.map((p) => p.address);
    const pids = state.pods.map((p) => p.pid);
    log('ring up');

    const lat = PHASES.has('latency')
      ? [
          await latency('1 topic × 100 subscribers', addresses, [`bench-lat-${nonce}`], 100, SIZES.latencyMessages, SIZES.latencyRate),
          await latency('100 topics × 10 subscribers', addresses, Array.from({ length: 100 }, (_, i) => `bench-lat-${nonce}-${i}`), 10, SIZES.latencyMessages, SIZES.latencyRate),
        ]
      : undefined;
    for (const r of lat ?? []) log(`  ${r.scenario}: p50 ${f(r.p50Ms)} ms, p99 ${f(r.p99Ms)} ms`);
    const tp = PHASES.has('throughput') ? { ...(await throughput(addresses, pids, `bench-tp-${nonce}`, 10)), floor: await echoFloor(`${subnet}.200`, procs) } : undefined;
    if (lat?.some((r) => r.missing.length > 0)) {
      keep = true;
      log('latency: acknowledged messages did not reach every connected subscriber (see the notes under table 1)');
    }
    const ch = PHASES.has('churn') ? await churn(runDir, options, env, `bench-churn-${nonce}`, 20) : undefined;
    let churnResult: Omit<NonNullable<typeof ch>, 'trace'> | undefined;
    if (ch) {
      const { trace, ...rest } = ch;
      churnResult = rest;
      const bad = ch.checks.some((c) => c.lost.length + c.duplicates.length + c.outOfOrder.length + c.wrongId.length > 0) || ch.reusedSeqs.length > 0 || ch.conflicts.length > 0;
      if (bad) {
        keep = true;
        const file = path.join(work, 'churn-trace.json');
        writeFileSync(file, JSON.stringify({ ...rest, ...trace }));
        log(`churn: the delivery contract was broken; every ack and delivery is in ${file}`);
      }
    }
    machine.loadAtEnd = os.loadavg()[0]!;
    if (values.json) {
      process.stdout.write(JSON.stringify({ machine, nodes: NODES, quick: QUICK, sizes: SIZES, latency: lat, throughput: tp, churn: churnResult }, null, 2) + '\n');
      return;
    }
    const out: string[] = [];
    out.push(`\nmessaging (Scribe): ${NODES} nodes, memory store, local ring on ${subnet}.x; ${machine.nproc} CPUs (${machine.cpu}), ${machine.memGiB} GiB, node ${machine.node}, ${machine.date}${QUICK ? ', --quick' : ''}`);
    out.push(`load average (1 min) at start / end: ${f(machine.loadAtStart, 1)} / ${f(machine.loadAtEnd, 1)}${Math.max(machine.loadAtStart, machine.loadAtEnd) > machine.nproc ? ' — the machine was busy with other work: times are inflated' : ''}`);
    if (lat) out.push(...renderLatency(lat));
    if (tp) out.push(...renderThroughput(tp));
    if (ch) out.push(...renderChurn(ch));
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await stopAll();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  log(`bench-messaging: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
