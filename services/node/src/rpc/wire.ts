import { BinaryWriter } from '@bufbuild/protobuf/wire';

/**
 * Protobuf encoding and decoding without the copies a large value does not need. The
 * generated code uses these (services/node/scripts/post-generate.mjs puts them there): a
 * 256 KiB chunk on its way to a replica sits three messages deep in a peer call, and with the
 * stock writer and `Buffer.from` it was copied about ten times per transfer, which cost more
 * CPU (copies and the garbage collections their allocations set off) than the transfer itself.
 */

/** Fields at least this long are decoded as views of the message's bytes, shorter ones copied. */
export const VIEW_MIN_BYTES = 4096;

interface WriterState {
  stack: { chunks: Uint8Array[]; buf: number[] }[];
  chunks: Uint8Array[];
  buf: number[];
}

/**
 * A writer whose nested messages are not copied when they end (BinaryWriter's join copies a
 * fork's bytes into one array at every level): every byte is copied once, by finish, into a
 * Buffer of its own.
 */
export class FlatWriter extends BinaryWriter {
  override join(): this {
    const w = this as unknown as WriterState;
    flush(w);
    const nested = w.chunks;
    let length = 0;
    for (const c of nested) length += c.length;
    const prev = w.stack.pop();
    if (!prev) throw new Error('invalid state, fork stack empty');
    w.chunks = prev.chunks;
    w.buf = prev.buf;
    this.uint32(length);
    flush(w);
    for (const c of nested) w.chunks.push(c);
    return this;
  }

  // A Buffer (from Node's pool when small, not zero-filled), typed as the base class says.
  override finish(): Uint8Array<ArrayBuffer> {
    const w = this as unknown as WriterState;
    flush(w);
    let length = 0;
    for (const c of w.chunks) length += c.length;
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for (const c of w.chunks) {
      out.set(c, at);
      at += c.length;
    }
    w.chunks = [];
    return out as Uint8Array as Uint8Array<ArrayBuffer>;
  }
}

function flush(w: WriterState): void {
  if (w.buf.length === 0) return;
  w.chunks.push(new Uint8Array(w.buf));
  w.buf = [];
}

/** Encoded bytes as a Buffer, without a copy (FlatWriter's finish gives a Buffer already). */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A decoded `bytes` field: a large one is a view of the message's bytes (which no one writes
 * to after they arrive), a small one a copy, so that a 16-byte id kept for long does not hold
 * a large message in memory.
 */
export function bytesField(bytes: Uint8Array): Buffer {
  return bytes.byteLength >= VIEW_MIN_BYTES ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.from(bytes);
}
