import net from 'node:net';
import { Metadata, status, type ServerUnaryCall, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';
import { LIMITS } from '../constants';

/**
 * The framed peer transport: unary calls of a gRPC service definition over one plain TCP
 * connection per peer, on the node's own port (a connection that opens with FRAME_MAGIC is
 * ours, any other is handed to gRPC). Same methods, payloads (the generated protobuf codecs),
 * metadata, trailers, status codes and deadlines as gRPC, without HTTP/2: no stream, header
 * compression or interceptor chain per call, and the frames of one turn leave in one write.
 *
 * Frame: u32 length of the rest, u8 kind, u32 call id, then
 *   request:  u32 deadline (ms from now), u16 method length, method path, metadata, payload
 *   response: u32 status code, u16 details length, details, trailers, payload
 * metadata: u16 pairs, each u16 key length, key, u32 value length, value (`-bin` keys raw bytes).
 *
 * The server answers a framed connection with FRAME_MAGIC before anything else. A server that
 * does not speak frames (an older node: plain gRPC) answers with HTTP/2 bytes instead, and the
 * calls sent on that connection fail with NotFramedError, which no server has seen: the caller
 * makes them again over gRPC.
 */
export const FRAME_MAGIC = Buffer.from('PSTRFRM1');

/** The peer at the other end does not speak frames; the call was not served and can go over gRPC. */
export class NotFramedError extends Error {
  constructor(readonly address: string) {
    super(`${address} does not speak the framed peer transport`);
  }
}
const REQUEST = 1;
const RESPONSE = 2;
const MAX_FRAME = LIMITS.maxGrpcMessageBytes + 64 * 1024;
/** An outgoing part this large is written as it is rather than copied into the turn's buffer. */
const WRITE_AS_IS_BYTES = 16 * 1024;

function encodeMetadata(md: Metadata | undefined): Buffer[] {
  const pairs: Buffer[] = [];
  let count = 0;
  if (md) {
    for (const key of Object.keys(md.getMap())) {
      for (const value of md.get(key)) {
        const k = Buffer.from(key);
        const v = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
        const head = Buffer.allocUnsafe(2 + k.length + 4);
        head.writeUInt16BE(k.length, 0);
        k.copy(head, 2);
        head.writeUInt32BE(v.length, 2 + k.length);
        pairs.push(head, v);
        count++;
      }
    }
  }
  const n = Buffer.allocUnsafe(2);
  n.writeUInt16BE(count, 0);
  return [n, ...pairs];
}

function decodeMetadata(buf: Buffer, at: number): [Metadata, number] {
  const md = new Metadata();
  const count = buf.readUInt16BE(at);
  at += 2;
  for (let i = 0; i < count; i++) {
    const kl = buf.readUInt16BE(at);
    const key = buf.toString('latin1', at + 2, at + 2 + kl);
    at += 2 + kl;
    const vl = buf.readUInt32BE(at);
    const value = buf.subarray(at + 4, at + 4 + vl);
    at += 4 + vl;
    if (key.endsWith('-bin')) md.add(key, Buffer.from(value));
    else md.add(key, value.toString('utf8'));
  }
  return [md, at];
}

function frame(kind: number, id: number, parts: Buffer[]): Buffer[] {
  const head = Buffer.allocUnsafe(9);
  let length = 5;
  for (const p of parts) length += p.length;
  if (length > MAX_FRAME) throw Object.assign(new Error(`frame of ${length} bytes exceeds ${MAX_FRAME}`), { code: status.RESOURCE_EXHAUSTED });
  head.writeUInt32BE(length, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(id, 5);
  return [head, ...parts];
}

/** Collects a connection's outgoing frames for this turn and writes them at once. */
class Writer {
  private pending: Buffer[] = [];
  private scheduled = false;

  constructor(private readonly socket: net.Socket) {}

  send(parts: Buffer[]): void {
    for (const p of parts) this.pending.push(p);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const out = this.pending;
      this.pending = [];
      if (this.socket.destroyed) return;
      if (out.length === 1) {
        this.socket.write(out[0]!);
        return;
      }
      // Small parts joined, large ones (values) as they are: one writev, no copy of a value.
      this.socket.cork();
      let small: Buffer[] = [];
      let bytes = 0;
      const flush = (): void => {
        if (small.length > 0) this.socket.write(small.length === 1 ? small[0]! : Buffer.concat(small, bytes));
        small = [];
        bytes = 0;
      };
      for (const part of out) {
        if (part.length >= WRITE_AS_IS_BYTES) {
          flush();
          this.socket.write(part);
        } else {
          small.push(part);
          bytes += part.length;
        }
      }
      flush();
      this.socket.uncork();
    });
  }
}

/** Splits a byte stream into frames (after an optional magic prefix already consumed). */
class Reader {
  private chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly onFrame: (kind: number, id: number, body: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    while (this.length >= 4) {
      const head = this.peek(4);
      const size = head.readUInt32BE(0);
      if (size < 5 || size > MAX_FRAME) throw new Error(`bad frame length ${size}`);
      if (this.length < 4 + size) return;
      const all = this.take(4 + size);
      this.onFrame(all.readUInt8(4), all.readUInt32BE(5), all.subarray(9));
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const out = first.subarray(0, n);
    const rest = first.subarray(n);
    this.chunks = rest.length > 0 ? [rest, ...this.chunks.slice(1)] : this.chunks.slice(1);
    this.length -= n;
    return out;
  }
}

interface MethodCodec {
  path: string;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

type Definition = Record<string, MethodCodec>;
type Handler = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

/** Serves unary methods of gRPC service definitions to framed connections. */
export class FrameServer {
  private readonly methods = new Map<string, { codec: MethodCodec; handler: Handler }>();
  private readonly sockets = new Set<net.Socket>();

  addService(definition: object, handlers: object): void {
    for (const [key, codec] of Object.entries(definition as Definition)) {
      const handler = (handlers as Record<string, Handler | undefined>)[key];
      if (handler) this.methods.set(codec.path, { codec, handler });
    }
  }

  /** Takes a connection whose FRAME_MAGIC was read; `rest` are the bytes read after it. */
  accept(socket: net.Socket, rest: Buffer): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.write(FRAME_MAGIC);
    const writer = new Writer(socket);
    const reader = new Reader((kind, id, body) => {
      if (kind === REQUEST) this.serve(writer, id, body);
    });
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk);
      } catch {
        socket.destroy();
      }
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    if (rest.length > 0) onData(rest);
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private serve(writer: Writer, id: number, body: Buffer): void {
    const reply = (code: number, details: string, trailers: Metadata | undefined, payload: Buffer): void => {
      const d = Buffer.from(details);
      const head = Buffer.allocUnsafe(6);
      head.writeUInt32BE(code, 0);
      head.writeUInt16BE(d.length, 4);
      writer.send(frame(RESPONSE, id, [head, d, ...encodeMetadata(trailers), payload]));
    };
    let at = 0;
    const deadlineMs = body.readUInt32BE(at);
    const pathLength = body.readUInt16BE(at + 4);
    const path = body.toString('latin1', at + 6, at + 6 + pathLength);
    at += 6 + pathLength;
    const [metadata, payloadAt] = decodeMetadata(body, at);
    const method = this.methods.get(path);
    if (!method) return reply(status.UNIMPLEMENTED, `unknown method ${path}`, undefined, Buffer.alloc(0));
    const deadline = new Date(Date.now() + deadlineMs);
    const call = {
      request: method.codec.requestDeserialize(body.subarray(payloadAt)),
      metadata,
      getDeadline: () => deadline,
      getPeer: () => 'frames',
      cancelled: false,
    } as unknown as ServerUnaryCall<unknown, unknown>;
    method.handler(call, (error, value, trailers) => {
      if (error) {
        const e = error as Partial<ServiceError>;
        reply(e.code ?? status.UNKNOWN, e.details ?? e.message ?? '', e.metadata ?? trailers ?? undefined, Buffer.alloc(0));
        return;
      }
      try {
        reply(status.OK, '', trailers ?? undefined, method.codec.responseSerialize(value));
      } catch (err) {
        reply(status.INTERNAL, `cannot encode the response: ${String(err)}`, undefined, Buffer.alloc(0));
      }
    });
  }
}

interface Pending {
  resolve(value: { code: number; details: string; trailers: Metadata; payload: Buffer }): void;
  reject(error: ServiceError | NotFramedError): void;
  deadline: number;
  sent: number;
  socket: net.Socket;
}

function callError(code: number, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(`${code} ${status[code] ?? 'UNKNOWN'}: ${details}`), { code, details, metadata });
}

/** One framed connection to a peer's address, with the calls in flight on it. */
export class FrameChannel {
  private socket: net.Socket | undefined;
  private writer: Writer | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  /** When the connection last delivered anything: a call that times out on a silent connection drops it. */
  private heard = 0;

  constructor(readonly address: string) {}

  /** Whether the connection is up (or being set up) and has not failed. */
  get usable(): boolean {
    return !this.closed && this.socket !== undefined && !this.socket.destroyed;
  }

  call(path: string, payload: Buffer, metadata: Metadata | undefined, deadline: number): Promise<{ code: number; details: string; trailers: Metadata; payload: Buffer }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(callError(status.UNAVAILABLE, 'channel closed'));
      this.connect();
      const id = this.nextId;
      this.nextId = (this.nextId % 0xfffffffe) + 1;
      const p = Buffer.from(path);
      const head = Buffer.allocUnsafe(6);
      head.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.round(deadline - Date.now()))), 0);
      head.writeUInt16BE(p.length, 4);
      let parts: Buffer[];
      try {
        parts = frame(REQUEST, id, [head, p, ...encodeMetadata(metadata), payload]);
      } catch (error) {
        return reject(callError(status.RESOURCE_EXHAUSTED, (error as Error).message));
      }
      this.pending.set(id, { resolve, reject, deadline, sent: Date.now(), socket: this.socket! });
      this.writer!.send(parts);
      this.sweeper ??= setInterval(() => this.sweep(), 10);
      this.sweeper.unref();
    });
  }

  close(): void {
    this.closed = true;
    this.fail(callError(status.CANCELLED, 'channel closed'));
    this.socket?.destroy();
  }

  private connect(): void {
    if (this.socket && !this.socket.destroyed) return;
    const colon = this.address.lastIndexOf(':');
    const host = this.address.slice(0, colon).replace(/^\[|\]$/g, '');
    const socket = net.connect({ host, port: Number(this.address.slice(colon + 1)) });
    socket.setNoDelay(true);
    this.socket = socket;
    this.writer = new Writer(socket);
    socket.write(FRAME_MAGIC);
    // The server's greeting: FRAME_MAGIC, or other bytes from a server that does not speak frames.
    let greeting = Buffer.alloc(0);
    const reader = new Reader((kind, id, body) => {
      if (kind !== RESPONSE) return;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      const code = body.readUInt32BE(0);
      const dl = body.readUInt16BE(4);
      const details = body.toString('utf8', 6, 6 + dl);
      const [trailers, at] = decodeMetadata(body, 6 + dl);
      p.resolve({ code, details, trailers, payload: body.subarray(at) });
    });
    this.heard = Date.now();
    socket.on('data', (chunk: Buffer) => {
      // The greeting alone does not count as hearing from the peer: only its answers do.
      if (greeting.length < FRAME_MAGIC.length) {
        greeting = Buffer.concat([greeting, chunk]);
        const n = Math.min(greeting.length, FRAME_MAGIC.length);
        if (!greeting.subarray(0, n).equals(FRAME_MAGIC.subarray(0, n))) {
          this.fail(new NotFramedError(this.address), socket);
          socket.destroy();
          return;
        }
        if (greeting.length < FRAME_MAGIC.length) return;
        chunk = greeting.subarray(FRAME_MAGIC.length);
        if (chunk.length === 0) return;
      }
      this.heard = Date.now();
      try {
        reader.push(chunk);
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.fail(callError(status.UNAVAILABLE, `connection to ${this.address} closed`), socket);
    });
  }

  /** Fails the calls in flight (on `socket` only, when given: a new connection's calls go on). */
  private fail(error: ServiceError | NotFramedError, socket?: net.Socket): void {
    for (const [id, p] of this.pending) {
      if (socket && p.socket !== socket) continue;
      this.pending.delete(id);
      p.reject(error);
    }
    if (this.pending.size === 0) this.stopSweeper();
  }

  private sweep(): void {
    const now = Date.now();
    let silent = false;
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        // Nothing arrived since this call went out: the connection may be a black hole (a
        // partition drops packets without a reset), so the next call connects afresh.
        if (this.heard <= p.sent) silent = true;
        p.reject(callError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
      }
    }
    if (silent) this.socket?.destroy();
    if (this.pending.size === 0) this.stopSweeper();
  }

  private stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/** Calls a unary method over a FrameChannel as a generated client would: the decoded response, or a ServiceError with its trailers. */
export async function frameCall<Res>(channel: FrameChannel, codec: MethodCodec, request: unknown, metadata: Metadata | undefined, deadline: number, observe?: (code: number, trailers: Metadata) => void): Promise<Res> {
  let answer: { code: number; details: string; trailers: Metadata; payload: Buffer };
  try {
    answer = await channel.call(codec.path, codec.requestSerialize(request), metadata, deadline);
  } catch (error) {
    if (error instanceof NotFramedError) throw error;
    const e = error as ServiceError;
    observe?.(e.code, e.metadata);
    throw e;
  }
  observe?.(answer.code, answer.trailers);
  if (answer.code !== status.OK) throw callError(answer.code, answer.details, answer.trailers);
  return codec.responseDeserialize(answer.payload) as Res;
}
