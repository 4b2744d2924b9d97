import { status, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type { Compute } from '../compute/compute';
import { InvalidArgumentError } from '../errors';
import type { ComputeServer, JobStatus, JobStatusRequest, RunRequest } from '../gen/pastry/v1/compute';
import { keyFromBytes } from '../overlay/codec';
import { MalformedRequest, malformedError } from './malformed';
import { refusal, unary, type HandlerContext } from './handler';

/** The public Compute API: Run streams a job's progress; Status is unary. */
export function computeService(deps: { compute: Compute } & HandlerContext): ComputeServer {
  const { compute } = deps;
  const ctx = { log: deps.log, telemetry: deps.telemetry };
  return {
    run: (call: ServerWritableStream<RunRequest, JobStatus>) => {
      const observed = ctx.telemetry.server('Compute.Run', call.metadata, undefined);
      let cancelled = false;
      // A client that goes away (cancelled, or failed over to another node) ends its job too.
      const abort = new AbortController();
      call.on('cancelled', () => {
        cancelled = true;
        abort.abort();
      });
      const job = async (): Promise<void> => {
        const request: unknown = call.request;
        if (request instanceof MalformedRequest) throw malformedError(request);
        const r = call.request;
        await compute.run(
          {
            module: r.module.length > 0 ? Buffer.from(r.module) : undefined,
            moduleGuid: r.moduleGuid.length > 0 ? keyFromBytes(Buffer.from(r.moduleGuid), 'module_guid') : undefined,
            inputFile: r.inputFile.length > 0 ? keyFromBytes(Buffer.from(r.inputFile), 'input_file') : undefined,
            inputObjects: r.inputObjects.map((g, i) => keyFromBytes(Buffer.from(g), `input_objects[${i}]`)),
            reduce: r.reduce,
            redundancy: r.redundancy,
            arg: Buffer.from(r.arg),
            fn: r.function,
            unitTimeoutMs: r.unitTimeoutMs,
          },
          (s) => {
            if (!cancelled) call.write(s);
          },
          abort.signal,
        );
      };
      job().then(
        () => {
          observed.end(0);
          if (!cancelled) call.end();
        },
        (error: unknown) => {
          const e = refusal(ctx, 'Compute.Run', error);
          observed.end(e.code ?? status.UNKNOWN);
          if (!cancelled) call.emit('error', e);
        },
      );
    },
    status: unary(ctx, 'Compute.Status', async (call: ServerUnaryCall<JobStatusRequest, JobStatus>) => {
      if (call.request.jobId.length !== 16) throw new InvalidArgumentError('job_id must be 16 bytes');
      return compute.status(Buffer.from(call.request.jobId).toString('hex'));
    }),
  };
}
