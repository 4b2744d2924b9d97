import { status, type ServerReadableStream, type ServerWritableStream, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { idToBytes } from '../core/id';
import type { Files } from '../files/files';
import { keyFromBytes } from '../overlay/codec';
import type { DownloadRequest, DownloadResponse, FileRemoveRequest, FileRemoveResponse, FilesServer, FileStatRequest, FileStatResponse, UploadRequest, UploadResponse } from '../gen/pastry/v1/files';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { MalformedRequest, malformedError } from './malformed';
import { refusal, unary, type HandlerContext } from './handler';

/** The public Files API: uploads and downloads stream; Stat and Remove are unary. */
export function filesService(deps: { files: Files } & HandlerContext): FilesServer {
  const { files } = deps;
  const ctx = { log: deps.log, telemetry: deps.telemetry };
  return {
    upload: (call: ServerReadableStream<UploadRequest, UploadResponse>, callback: sendUnaryData<UploadResponse>) => {
      const observed = ctx.telemetry.server('Files.Upload', call.metadata, undefined);
      const source = (async function* () {
        for await (const message of call as AsyncIterable<UploadRequest | MalformedRequest>) {
          if (message instanceof MalformedRequest) throw malformedError(message);
          yield message;
        }
        // A cancelled call may end its stream without an error: never store it as a whole file.
        if (call.cancelled) throw new UnavailableError('the client cancelled the upload');
      })();
      files.upload(source).then(
        (r) => callback(null, { guid: idToBytes(r.guid), size: r.size, chunks: r.chunks, chunkSize: r.chunkSize, merkleRoot: r.merkleRoot }, observed.end(0)),
        (error: unknown) => {
          const e = refusal(ctx, 'Files.Upload', error);
          observed.end(e.code ?? status.UNKNOWN);
          callback(e);
        },
      );
    },
    download: (call: ServerWritableStream<DownloadRequest, DownloadResponse>) => {
      const observed = ctx.telemetry.server('Files.Download', call.metadata, call.request);
      let cancelled = false;
      call.on('cancelled', () => (cancelled = true));
      const send = async (): Promise<void> => {
        const request: unknown = call.request;
        if (request instanceof MalformedRequest) throw malformedError(request);
        const offset = safeNumber(call.request.offset, 'offset');
        const length = safeNumber(call.request.length, 'length');
        for await (const piece of files.download(fileGuid(call.request.guid), offset, length)) {
          if (cancelled) return;
          const more = call.write({ offset: piece.offset, data: piece.data, size: piece.size, chunkHash: piece.chunkHash });
          if (!more) await new Promise<void>((resolve) => call.once('drain', resolve).once('cancelled', resolve));
        }
      };
      send().then(
        () => {
          observed.end(0);
          if (!cancelled) call.end();
        },
        (error: unknown) => {
          const e = refusal(ctx, 'Files.Download', error);
          observed.end(e.code ?? status.UNKNOWN);
          if (!cancelled) call.emit('error', e);
        },
      );
    },
    stat: unary(ctx, 'Files.Stat', async (call: ServerUnaryCall<FileStatRequest, FileStatResponse>) => {
      const { guid, firstChunk, chunkCount, locations } = call.request;
      const id = fileGuid(guid);
      const { manifest: m, chunks } = await files.stat(id, firstChunk, chunkCount, locations);
      return { guid: idToBytes(id), size: m.size, chunkSize: m.chunkSize, chunks: m.chunks, merkleRoot: m.merkleRoot, salt: m.salt, chunkInfo: chunks };
    }),
    remove: unary(ctx, 'Files.Remove', async (call: ServerUnaryCall<FileRemoveRequest, FileRemoveResponse>) => {
      const r = await files.remove(fileGuid(call.request.guid));
      return { removed: r.removed, chunksRemoved: r.chunksRemoved };
    }),
  };
}

function safeNumber(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${field} must be a non-negative integer`);
  return value;
}

const fileGuid = (bytes: Uint8Array): string => keyFromBytes(Buffer.from(bytes), 'guid');
