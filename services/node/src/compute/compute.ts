import { createHash, randomBytes } from 'node:crypto';
import { type Id, idFromBytes, idToBytes } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { COMPUTE, FILES } from '../constants';
import type { Dht } from '../dht/dht';
import { guidForContent } from '../dht/guid';
import type { ReplicaStore } from '../dht/replica-store';
import { DeadlineExceededError, InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import type { Files } from '../files/files';
import type { JobStatus } from '../gen/pastry/v1/compute';
import { ComputeUnit, ComputeUnitReply } from '../gen/pastry/v1/compute_peer';
import type { Logger } from '../logger';
import type { Application, Endpoint, RoutedMessage } from '../overlay/common-api';
import { toNodeInfo } from '../overlay/codec';
import { Sandbox, UnitError } from './sandbox';
import { prepareModule } from './wasm-module';
import { toBuffer } from '../rpc/wire';

/** The computing application's id on the overlay. */
export const COMPUTE_APP = 'compute';

export interface ComputeConfig {
  replicas: number;
  rpcTimeoutMs: number;
  /** Bytes of a module (a DHT object: the node's value limit). */
  maxModuleBytes: number;
  /** Units run at once on this node. */
  slots: number;
  /** Units waiting for a slot at most. */
  queue: number;
  /** Linear memory a unit may reach. */
  memoryBytes: number;
  /** Wall time a unit may run at most. */
  unitTimeoutMs: number;
}

export interface JobRequest {
  module?: Buffer;
  moduleGuid?: Id;
  inputFile?: Id;
  inputObjects?: Id[];
  /** "concat", "sum", or an exported function's name. */
  reduce: string;
  redundancy: number;
  arg: Buffer;
  /** The function each unit runs. */
  fn: string;
  /** 0: the node's limit. */
  unitTimeoutMs: number;
}

/**
 * Why a unit was sent again: the overlay routed around a hop that failed on its way (which may
 * have been the node running it), or an attempt ended in an error (its node timed out, died,
 * or could not be reached) and the coordinator sent a new one.
 */
export type RetryCause = 'rerouted' | 'timeout' | 'unavailable';

export interface ComputeStats {
  /** Units this node ran, by how they ended. */
  ran: { ok: number; failed: number };
  /** Unit runs this node's jobs sent again, by cause. */
  retried: Record<RetryCause, number>;
  /** Jobs this node coordinated, by how they ended. */
  jobs: { done: number; failed: number; cancelled: number };
  /** Seconds per unit run here, for the histogram (the telemetry drains it). */
  durations: number[];
}

interface Prepared {
  module: WebAssembly.Module;
  exports: Set<string>;
}

/**
 * Distributed computing, an application on the common API beside the DHT and file sharing:
 * a job's module is a content-addressed DHT object; each work unit is routed to its input's
 * GUID and runs on the input's root (which holds a replica) in the node's sandbox; the entry
 * node coordinates, retries units whose node failed or timed out, and reduces the outputs.
 */
export class Compute implements Application {
  readonly id = COMPUTE_APP;
  readonly sandbox: Sandbox;
  readonly stats: ComputeStats = { ran: { ok: 0, failed: 0 }, retried: { rerouted: 0, timeout: 0, unavailable: 0 }, jobs: { done: 0, failed: 0, cancelled: 0 }, durations: [] };
  private readonly modules = new Map<Id, Prepared>();
  private readonly jobs = new Map<string, JobStatus>();

  constructor(
    private readonly endpoint: Endpoint,
    private readonly dht: Dht,
    private readonly local: ReplicaStore,
    private readonly files: Files,
    private readonly config: ComputeConfig,
    private readonly log: Logger,
  ) {
    this.sandbox = new Sandbox({ slots: config.slots, queue: config.queue, memoryBytes: config.memoryBytes, timeoutMs: config.unitTimeoutMs, maxOutputBytes: COMPUTE.maxOutputBytes });
  }

  stop(): Promise<void> {
    return this.sandbox.close();
  }

  /** At the input's root: run the unit here, and on more replicas when it asks for redundancy. */
  async deliver(message: RoutedMessage): Promise<Buffer> {
    const unit = decodeUnit(message.payload);
    const r = Math.max(1, unit.redundancy);
    if (r === 1) return encodeReply(await this.runHere(unit));
    const others = this.endpoint.replicaSet(idFromBytes(unit.input), r).filter((n) => n.id !== this.endpoint.self.id).slice(0, r - 1);
    if (others.length < r - 1) throw new UnavailableError(`${others.length + 1} nodes for a unit that asks for ${r}`);
    const single = encodeUnit({ ...unit, redundancy: 1 });
    const replies = await Promise.all([
      this.runHere(unit),
      ...others.map(async (n) => ComputeUnitReply.decode(await this.endpoint.send(n, single, { deadline: message.deadline }))),
    ]);
    return encodeReply(agree(replies));
  }

  /** A redundant run asked by an input's root. */
  async receive(_from: NodeHandle, payload: Buffer): Promise<Buffer> {
    return encodeReply(await this.runHere(decodeUnit(payload)));
  }

  /** A job this node coordinates or coordinated lately. */
  status(jobId: string): JobStatus {
    const job = this.jobs.get(jobId);
    if (!job) throw new NotFoundError(`no job ${jobId} on this node (jobs are kept where they ran, the last ${COMPUTE.jobsKept})`);
    return job;
  }

  /**
   * Runs a job to its end; `progress` sees its status as units finish (at most every
   * COMPUTE.progressMs, and at the end). Resolves with the final status: done, failed, or
   * cancelled when `signal` aborts (no unit is sent after that; those in flight are let go).
   */
  async run(req: JobRequest, progress: (status: JobStatus) => void = () => undefined, signal?: AbortSignal): Promise<JobStatus> {
    const started = this.endpoint.now();
    const fn = req.fn || 'run';
    const reduceFn = req.reduce === '' || req.reduce === 'concat' || req.reduce === 'sum' ? undefined : req.reduce;
    const redundancy = Math.max(1, req.redundancy);
    if (redundancy > COMPUTE.maxRedundancy) throw new InvalidArgumentError(`redundancy is at most ${COMPUTE.maxRedundancy}`);
    const timeoutMs = req.unitTimeoutMs > 0 ? Math.min(req.unitTimeoutMs, this.config.unitTimeoutMs) : this.config.unitTimeoutMs;
    const { guid: moduleGuid, prepared } = await this.storeModule(req, [fn, ...(reduceFn ? [reduceFn] : [])]);
    const inputs = await this.inputs(req);
    const jobId = randomBytes(16);
    const status: JobStatus = {
      jobId,
      state: 'running',
      units: inputs.length,
      done: 0,
      failed: 0,
      retried: 0,
      running: 0,
      seconds: 0,
      result: Buffer.alloc(0),
      failures: [],
      moduleGuid: idToBytes(moduleGuid),
      error: '',
    };
    this.remember(jobId.toString('hex'), status);
    let lastReport = 0;
    const report = (force = false): void => {
      const now = this.endpoint.now();
      status.seconds = (now - started) / 1000;
      if (!force && now - lastReport < COMPUTE.progressMs) return;
      lastReport = now;
      progress({ ...status, failures: [...status.failures] });
    };
    report(true);
    const outputs: Buffer[] = new Array(inputs.length);
    const template = { jobId, moduleGuid: idToBytes(moduleGuid), arg: req.arg, function: fn, timeoutMs, redundancy };
    let next = 0;
    let outputBytes = 0;
    const retries: Record<RetryCause, number> = { rerouted: 0, timeout: 0, unavailable: 0 };
    const worker = async (): Promise<void> => {
      while (next < inputs.length && !signal?.aborted) {
        const index = next++;
        status.running++;
        const outcome = await this.runUnit({ ...template, index, input: idToBytes(inputs[index]!) }, timeoutMs, signal, (cause) => {
          status.retried++;
          retries[cause]++;
          this.stats.retried[cause]++;
          report();
        });
        status.running--;
        if (outcome === 'cancelled') break;
        if (outcome.ok && outputBytes + outcome.output.length > COMPUTE.maxJobOutputBytes) {
          // The entry node holds every output until the reduce: bounded like any buffer.
          status.failed++;
          if (status.failures.length < COMPUTE.failuresKept) status.failures.push({ unit: index, input: idToBytes(inputs[index]!), error: `the job's outputs pass ${COMPUTE.maxJobOutputBytes} bytes` });
        } else if (outcome.ok) {
          outputs[index] = outcome.output;
          outputBytes += outcome.output.length;
          status.done++;
        } else {
          status.failed++;
          if (status.failures.length < COMPUTE.failuresKept) status.failures.push({ unit: index, input: idToBytes(inputs[index]!), error: outcome.error });
        }
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.min(COMPUTE.unitsInFlight, inputs.length) }, worker));
    if (signal?.aborted) {
      status.state = 'cancelled';
      status.error = `cancelled by its client after ${status.done + status.failed} of ${status.units} units`;
    } else if (status.failed > 0) {
      status.state = 'failed';
      status.error = `${status.failed} of ${status.units} units failed`;
    } else {
      try {
        status.result = await this.reduce(req.reduce, reduceFn, prepared, outputs, req.arg, timeoutMs);
        status.state = 'done';
      } catch (error) {
        status.state = 'failed';
        status.error = `the reduce step failed: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    this.stats.jobs[status.state as keyof ComputeStats['jobs']]++;
    this.log.info('compute_job', { job: jobId.toString('hex'), state: status.state, units: status.units, done: status.done, failed: status.failed, retried: status.retried, retriedBy: retries, ms: this.endpoint.now() - started });
    report(true);
    return status;
  }

  /** One unit to its end: routed to its input's root, sent again while its node fails. */
  private async runUnit(unit: ComputeUnit, timeoutMs: number, signal: AbortSignal | undefined, retried: (cause: RetryCause) => void): Promise<{ ok: true; output: Buffer } | { ok: false; error: string } | 'cancelled'> {
    const key = idFromBytes(unit.input);
    const payload = encodeUnit(unit);
    let lastError = '';
    let attempt = 0;
    // A full queue is back-pressure, not a failure: the unit waits, for as long as a run of
    // it could take, without spending an attempt.
    const patience = this.endpoint.now() + COMPUTE.deadlineFactor * timeoutMs;
    let busy = 0;
    while (attempt < COMPUTE.maxAttempts) {
      const pause = busy > 0 && attempt === 0 ? COMPUTE.busyPauseMs * Math.min(busy, 10) : COMPUTE.retryPauseMs * attempt;
      if (pause > 0) await new Promise<void>((resolve) => this.endpoint.setTimer(pause, resolve));
      if (signal?.aborted) return 'cancelled';
      // Room for the unit to wait in its node's queue, then run, then answer.
      const deadline = this.endpoint.now() + COMPUTE.deadlineFactor * timeoutMs + 2 * this.config.rpcTimeoutMs;
      try {
        const { reply, reroutes } = await this.endpoint.route(key, payload, { deadline });
        // A hop that failed on the way may have been the node running the unit: the overlay
        // sent it on to the next closest, which ran it again.
        for (let i = 0; i < reroutes; i++) retried('rerouted');
        const r = ComputeUnitReply.decode(reply);
        return r.ok ? { ok: true, output: Buffer.from(r.output) } : { ok: false, error: r.error };
      } catch (error) {
        for (let i = 0; i < ((error as { reroutes?: number }).reroutes ?? 0); i++) retried('rerouted');
        if (error instanceof InvalidArgumentError) return { ok: false, error: error.message };
        lastError = error instanceof Error ? error.message : String(error);
        if (error instanceof ResourceExhaustedError && this.endpoint.now() < patience) {
          busy++;
          continue;
        }
        attempt++;
        if (attempt < COMPUTE.maxAttempts) retried(error instanceof DeadlineExceededError ? 'timeout' : 'unavailable');
      }
    }
    return { ok: false, error: `no node could run it in ${COMPUTE.maxAttempts} attempts: ${lastError}` };
  }

  /** Runs a unit on this node: its module and input fetched (the input is local on a replica). */
  private async runHere(unit: ComputeUnit): Promise<ComputeUnitReply> {
    const deadline = this.endpoint.now() + 2 * this.config.rpcTimeoutMs;
    const prepared = await this.module(idFromBytes(unit.moduleGuid), deadline);
    const ranOn = [toNodeInfo(this.endpoint.self)];
    if (!prepared.exports.has(unit.function)) return { ok: false, output: Buffer.alloc(0), error: `the module exports no function "${unit.function}"`, ranOn, ms: 0 };
    const input = await this.input(idFromBytes(unit.input), deadline);
    try {
      // The time is the run's own, from its slot on: not the wait in the queue before it.
      const { output, ms } = await this.sandbox.runTimed(prepared.module, unit.function, input, unit.arg, unit.timeoutMs || this.config.unitTimeoutMs);
      this.ran(true, ms);
      return { ok: true, output, error: '', ranOn, ms: Math.round(ms) };
    } catch (error) {
      if (!(error instanceof UnitError)) throw error;
      this.ran(false, error.ms);
      return { ok: false, output: Buffer.alloc(0), error: error.message, ranOn, ms: Math.round(error.ms) };
    }
  }

  private ran(ok: boolean, ms: number): void {
    if (ok) this.stats.ran.ok++;
    else this.stats.ran.failed++;
    if (this.stats.durations.length < COMPUTE.durationsKept) this.stats.durations.push(ms / 1000);
  }

  /** The input's bytes: this node's replica, else a DHT read. */
  private async input(guid: Id, deadline: number): Promise<Buffer> {
    const { object } = await this.local.read(guid).catch(() => ({ object: undefined }));
    if (object && !object.tombstone && !object.divertedTo) return object.value;
    return (await this.dht.get({ guid: idToBytes(guid), name: '' }, deadline)).response.value;
  }

  /** A module by GUID, fetched once and kept compiled (with its memory capped). */
  private async module(guid: Id, deadline: number): Promise<Prepared> {
    const cached = this.modules.get(guid);
    if (cached) {
      this.modules.delete(guid);
      this.modules.set(guid, cached);
      return cached;
    }
    const bytes = (await this.dht.get({ guid: idToBytes(guid), name: '' }, deadline)).response.value;
    if (guidForContent(bytes) !== guid) throw new UnavailableError(`the module read for ${guid} does not match its content address`);
    return this.cacheModule(guid, bytes);
  }

  private cacheModule(guid: Id, bytes: Buffer): Prepared {
    const { module } = prepareModule(bytes, [], this.config.memoryBytes);
    const prepared = { module, exports: new Set(WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name)) };
    this.modules.set(guid, prepared);
    if (this.modules.size > COMPUTE.modulesKept) this.modules.delete(this.modules.keys().next().value!);
    return prepared;
  }

  /** The job's module checked for `entries`, stored in the ring (content-addressed) when sent as bytes. */
  private async storeModule(req: JobRequest, entries: string[]): Promise<{ guid: Id; prepared: Prepared }> {
    const deadline = this.endpoint.now() + 4 * this.config.rpcTimeoutMs;
    let guid: Id;
    let prepared: Prepared;
    if (req.module && req.module.length > 0) {
      if (req.module.length > this.config.maxModuleBytes) throw new InvalidArgumentError(`the module is ${req.module.length} bytes, over the limit of ${this.config.maxModuleBytes}`);
      prepareModule(req.module, entries, this.config.memoryBytes);
      guid = (await this.dht.put('', req.module, deadline)).guid;
      prepared = this.cacheModule(guid, req.module);
    } else if (req.moduleGuid) {
      guid = req.moduleGuid;
      prepared = await this.module(guid, deadline);
    } else {
      throw new InvalidArgumentError('a job needs a module (its bytes or its GUID)');
    }
    for (const e of entries) if (!prepared.exports.has(e)) throw new InvalidArgumentError(`the module exports no function "${e}"`);
    return { guid, prepared };
  }

  /** One GUID per unit: a file's chunks in order, or the objects named. */
  private async inputs(req: JobRequest): Promise<Id[]> {
    if (req.inputFile && req.inputObjects && req.inputObjects.length > 0) throw new InvalidArgumentError('give a file or objects as the input, not both');
    if (req.inputObjects && req.inputObjects.length > 0) {
      if (req.inputObjects.length > COMPUTE.maxUnits) throw new InvalidArgumentError(`at most ${COMPUTE.maxUnits} objects`);
      return req.inputObjects;
    }
    if (!req.inputFile) throw new InvalidArgumentError('a job needs an input: a file GUID or object GUIDs');
    const out: Id[] = [];
    for (let first = 0; ; first += FILES.maxStatChunks) {
      const { manifest, chunks } = await this.files.stat(req.inputFile, first, FILES.maxStatChunks, false);
      if (manifest.chunks > COMPUTE.maxUnits) throw new InvalidArgumentError(`the file has ${manifest.chunks} chunks; a job runs at most ${COMPUTE.maxUnits} units`);
      out.push(...chunks.map((c) => idFromBytes(c.guid)));
      if (out.length >= manifest.chunks || chunks.length === 0) break;
    }
    if (out.length === 0) throw new InvalidArgumentError('the file is empty: no units to run');
    return out;
  }

  private async reduce(kind: string, fn: string | undefined, prepared: Prepared, outputs: Buffer[], arg: Buffer, timeoutMs: number): Promise<Buffer> {
    if (fn) {
      const framed: Buffer[] = [];
      for (const o of outputs) {
        const len = Buffer.alloc(4);
        len.writeUInt32LE(o.length);
        framed.push(len, o);
      }
      return this.sandbox.run(prepared.module, fn, Buffer.concat(framed), arg, timeoutMs);
    }
    if (kind === 'sum') {
      let total = 0n;
      outputs.forEach((o, i) => {
        const text = o.toString('utf8').trim();
        if (!/^[-+]?\d+$/.test(text)) throw new InvalidArgumentError(`unit ${i}'s output is not a decimal integer: ${JSON.stringify(text.slice(0, 40))}`);
        total += BigInt(text);
      });
      return Buffer.from(total.toString());
    }
    return Buffer.concat(outputs);
  }

  private remember(id: string, status: JobStatus): void {
    this.jobs.set(id, status);
    if (this.jobs.size > COMPUTE.jobsKept) this.jobs.delete(this.jobs.keys().next().value!);
  }
}

/** The replicas' runs of one unit: the output when every run agrees, else why not. */
function agree(replies: ComputeUnitReply[]): ComputeUnitReply {
  const ranOn = replies.flatMap((r) => r.ranOn);
  const ms = Math.max(...replies.map((r) => r.ms));
  const failed = replies.find((r) => !r.ok);
  if (failed) return { ...failed, ranOn, ms };
  const digests = replies.map((r) => createHash('sha256').update(r.output).digest('hex').slice(0, 16));
  if (digests.every((d) => d === digests[0])) return { ok: true, output: replies[0]!.output, error: '', ranOn, ms };
  const detail = replies.map((r, i) => `${r.ranOn[0]?.name || r.ranOn[0]?.address || '?'}: ${digests[i]}`).join(', ');
  return { ok: false, output: Buffer.alloc(0), error: `the replicas disagree (output SHA-256 prefixes ${detail})`, ranOn, ms };
}

export function encodeUnit(unit: ComputeUnit): Buffer {
  return toBuffer(ComputeUnit.encode(unit).finish());
}

function encodeReply(reply: ComputeUnitReply): Buffer {
  return toBuffer(ComputeUnitReply.encode(reply).finish());
}

function decodeUnit(payload: Buffer): ComputeUnit {
  let unit: ComputeUnit;
  try {
    unit = ComputeUnit.decode(payload);
  } catch (error) {
    throw new InvalidArgumentError(`malformed work unit: ${(error as Error).message}`);
  }
  if (unit.moduleGuid.length !== 16 || unit.input.length !== 16) throw new InvalidArgumentError('a work unit needs 16-byte module and input GUIDs');
  if (unit.function === '') throw new InvalidArgumentError('a work unit needs a function');
  return unit;
}
