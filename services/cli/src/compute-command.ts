import { existsSync, readFileSync, statSync } from 'node:fs';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { isId } from '../../node/src/core/id';
import { ComputeClient, type JobStatus, type RunRequest } from '../../node/src/gen/pastry/v1/compute';
import { unaryCall } from '../../node/src/rpc/unary-call';
import { ClientError, clientError } from './client';
import { UsageError, type Io } from './commands';

export interface ComputeOptions {
  /** Nodes to use, first first: a job whose entry node fails runs again through the next. */
  targets: string[];
  json: boolean;
  input?: string;
  objects?: string;
  reduce?: string;
  redundancy?: string;
  arg?: string;
  fn?: string;
  unitTimeoutS?: number;
  /** Force the progress line on or off (default: when stderr is a terminal). */
  progress?: boolean;
  err?: (text: string) => void;
}

/** Codes after which the job can run again through another node. */
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.CANCELLED, status.UNKNOWN, status.INTERNAL]);
const CHANNEL = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 };

export async function computeCommand(sub: string | undefined, args: string[], opts: ComputeOptions, io: Io): Promise<number> {
  switch (sub) {
    case 'run':
      return computeRun(args[0], opts, io);
    case 'status':
      return computeStatus(args[0], opts, io);
    default:
      throw new UsageError('usage: pastry compute run MODULE.wasm --input GUID | --objects GUID,... [--reduce concat|sum|FUNCTION] [--redundancy R] [--arg TEXT]; pastry compute status JOB');
  }
}

function guid(value: string, what: string): Buffer {
  const v = value.trim().toLowerCase();
  if (!isId(v)) throw new UsageError(`${what} is a GUID of 32 hex digits, got ${JSON.stringify(value)}`);
  return Buffer.from(v, 'hex');
}

export function runRequest(path: string | undefined, opts: ComputeOptions): RunRequest {
  if (!path) throw new UsageError('usage: pastry compute run MODULE.wasm --input GUID | --objects GUID,...');
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${path}: no such file`);
  if ((opts.input === undefined) === (opts.objects === undefined)) throw new UsageError('give the input as --input FILE_GUID or --objects GUID,GUID,... (one of them)');
  const redundancy = opts.redundancy === undefined ? 1 : Number(opts.redundancy);
  if (!Number.isInteger(redundancy) || redundancy < 1) throw new UsageError(`--redundancy needs a positive integer, got ${JSON.stringify(opts.redundancy)}`);
  return {
    module: readFileSync(path),
    moduleGuid: Buffer.alloc(0),
    inputFile: opts.input !== undefined ? guid(opts.input, '--input') : Buffer.alloc(0),
    inputObjects: opts.objects !== undefined ? opts.objects.split(',').filter((g) => g.trim() !== '').map((g) => guid(g, 'each of --objects')) : [],
    reduce: opts.reduce ?? 'concat',
    redundancy,
    arg: Buffer.from(opts.arg ?? ''),
    function: opts.fn ?? 'run',
    unitTimeoutMs: (opts.unitTimeoutS ?? 0) * 1000,
  };
}

/** Runs a job and prints its result; the job runs again through the next target if its entry node fails. */
async function computeRun(path: string | undefined, opts: ComputeOptions, io: Io): Promise<number> {
  const request = runRequest(path, opts);
  const err = opts.err ?? ((t: string) => process.stderr.write(t + '\n'));
  const showProgress = opts.progress ?? Boolean(process.stderr.isTTY);
  let final: JobStatus | undefined;
  let lastError: ClientError | undefined;
  for (const target of opts.targets) {
    try {
      final = await runOnce(target, request, (s) => {
        if (showProgress) process.stderr.write(`\r\x1b[2K${progressLine(s)}`);
      });
      if (showProgress) process.stderr.write('\n');
      break;
    } catch (error) {
      if (showProgress) process.stderr.write('\n');
      const e = error as ServiceError;
      lastError = typeof e.code === 'number' ? clientError(target, e) : new ClientError(`${target}: ${String(error)}`, status.UNKNOWN);
      if (typeof e.code === 'number' && !RETRYABLE.has(e.code)) throw lastError;
      if (target !== opts.targets[opts.targets.length - 1]) err(`${lastError.message}; running the job again through the next node`);
    }
  }
  if (!final) throw lastError ?? new ClientError('no target to run the job on', status.UNAVAILABLE);
  const jobId = Buffer.from(final.jobId).toString('hex');
  const summary = { job: jobId, module: Buffer.from(final.moduleGuid).toString('hex'), units: final.units, failed: final.failed, retried: final.retried, seconds: Number(final.seconds.toFixed(3)) };
  if (final.state !== 'done') {
    for (const f of final.failures.slice(0, 10)) err(`unit ${f.unit} (input ${Buffer.from(f.input).toString('hex')}): ${f.error}`);
    if (final.failures.length > 10) err(`... and ${final.failed - 10} more failed units`);
    if (opts.json) io.out(JSON.stringify({ ...summary, state: final.state, error: final.error, failures: final.failures.map((f) => ({ unit: f.unit, input: Buffer.from(f.input).toString('hex'), error: f.error })) }));
    err(`pastry: job ${jobId} failed: ${final.error}`);
    return 1;
  }
  const result = Buffer.from(final.result);
  if (opts.json) {
    const text = result.toString('utf8');
    const exact = Buffer.from(text, 'utf8').equals(result);
    io.out(JSON.stringify({ result: exact ? text : result.toString('hex'), ...(exact ? {} : { resultEncoding: 'hex' }), ...summary }));
  } else {
    io.raw(result);
    if (result.length > 0 && result[result.length - 1] !== 0x0a && process.stdout.isTTY) io.raw(Buffer.from('\n'));
    err(`${final.units} units, ${final.retried} retried, ${final.seconds.toFixed(1)} s (job ${jobId})`);
  }
  return 0;
}

function runOnce(target: string, request: RunRequest, progress: (s: JobStatus) => void): Promise<JobStatus> {
  const client = new ComputeClient(target, credentials.createInsecure(), CHANNEL);
  return new Promise<JobStatus>((resolve, reject) => {
    let last: JobStatus | undefined;
    const call = client.run(request);
    call.on('data', (s: JobStatus) => {
      last = s;
      progress(s);
    });
    call.on('error', (e) => {
      client.close();
      reject(e);
    });
    call.on('end', () => {
      client.close();
      if (last && last.state !== 'running') resolve(last);
      else reject(Object.assign(new Error('the node ended the job without a result'), { code: status.UNAVAILABLE }));
    });
  });
}

export function progressLine(s: JobStatus): string {
  const width = 24;
  const finished = s.done + s.failed;
  const share = s.units > 0 ? finished / s.units : 1;
  const filled = Math.round(share * width);
  const rate = s.seconds > 0 ? finished / s.seconds : 0;
  const eta = rate > 0 && finished < s.units ? `  ETA ${Math.ceil((s.units - finished) / rate)} s` : '';
  return `compute [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${s.done}/${s.units} done, ${s.failed} failed, ${s.retried} retried, ${s.running} running${eta}`;
}

async function computeStatus(job: string | undefined, opts: ComputeOptions, io: Io): Promise<number> {
  if (!job || !/^[0-9a-f]{32}$/i.test(job)) throw new UsageError('usage: pastry compute status JOB (the 32-hex-digit job id that run printed)');
  const target = opts.targets[0]!;
  const client = new ComputeClient(target, credentials.createInsecure(), CHANNEL);
  try {
    const s = await unaryCall(client.status.bind(client), { jobId: Buffer.from(job, 'hex') }, { deadline: Date.now() + 10_000 }).catch((e: ServiceError) => {
      throw clientError(target, e);
    });
    if (opts.json) {
      io.out(JSON.stringify({ job, state: s.state, units: s.units, done: s.done, failed: s.failed, retried: s.retried, running: s.running, seconds: s.seconds, error: s.error }));
    } else {
      io.out(`${s.state}: ${progressLine(s).replace(/^compute \[[#-]*\] /, '')}, ${s.seconds.toFixed(1)} s${s.error ? ` (${s.error})` : ''}`);
    }
    return 0;
  } finally {
    client.close();
  }
}
