import { randomBytes } from 'node:crypto';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { DhtDirect, type ObjectRecord } from '../../../services/node/src/gen/pastry/v1/dht_peer';
import { PeerService, type DirectRequest } from '../../../services/node/src/gen/pastry/v1/peer';
import { bytesField, FlatWriter, toBuffer, VIEW_MIN_BYTES } from '../../../services/node/src/rpc/wire';

function record(valueBytes: number, seed: number): ObjectRecord {
  return {
    guid: randomBytes(16),
    value: randomBytes(valueBytes),
    version: 1_000_000 + seed,
    writer: randomBytes(16),
    hash: `h${seed}`,
    size: valueBytes,
    createdAtMs: 1_700_000_000_000 + seed,
    tombstone: seed % 2 === 0,
    contentAddressed: seed % 3 === 0,
    redirect: Buffer.alloc(0),
    divertedFrom: seed === 5 ? randomBytes(16) : Buffer.alloc(0),
  };
}

// Three levels of nesting (DhtDirect > StoreReplicasRequest > ObjectRecord), values on both
// sides of the view threshold and one far above it, as a chunk on its way to a replica is.
const message: DhtDirect = {
  storeReplicas: {
    sender: { id: randomBytes(16), address: '127.0.0.1:7000', name: 'pastry-3' },
    objects: [record(0, 1), record(10, 2), record(VIEW_MIN_BYTES - 1, 3), record(VIEW_MIN_BYTES, 4), record(300_000, 5)],
    diverted: true,
    senderKeeps: false,
    senderLeavingMs: 0,
  },
};

describe('wire: protobuf without copies of large values', () => {
  it('the generated encoders write exactly the bytes the stock writer writes, into one Buffer', () => {
    const stock = DhtDirect.encode(message, new BinaryWriter()).finish();
    const flat = DhtDirect.encode(message).finish();
    // The generated code starts with a FlatWriter (post-generate.mjs ran): its finish gives a Buffer.
    expect(Buffer.isBuffer(flat)).toBe(true);
    expect(Buffer.compare(Buffer.from(flat), Buffer.from(stock))).toBe(0);
    expect(Buffer.compare(Buffer.from(DhtDirect.encode(message, new FlatWriter()).finish()), Buffer.from(stock))).toBe(0);
    // Empty and field-less messages too.
    expect(Buffer.from(DhtDirect.encode({}).finish()).length).toBe(0);
    const empty: DhtDirect = { storeReplicas: { sender: undefined, objects: [], diverted: false, senderKeeps: false, senderLeavingMs: 0 } };
    expect(Buffer.from(DhtDirect.encode(empty).finish()).equals(Buffer.from(DhtDirect.encode(empty, new BinaryWriter()).finish()))).toBe(true);
  });

  it('a writer is reusable after finish, and forks nest to any depth', () => {
    const w = new FlatWriter();
    w.uint32(8).fork().uint32(8).fork().string('deep').join().join();
    const first = Buffer.from(w.finish());
    const b = new BinaryWriter();
    b.uint32(8).fork().uint32(8).fork().string('deep').join().join();
    expect(first.equals(Buffer.from(b.finish()))).toBe(true);
    w.uint32(150);
    expect(Buffer.from(w.finish()).equals(Buffer.from([0x96, 0x01]))).toBe(true);
    expect(() => new FlatWriter().join()).toThrow(/fork stack empty/);
  });

  it('decoding keeps large bytes fields as views of the message and copies small ones', () => {
    const bytes = Buffer.from(DhtDirect.encode(message).finish());
    const decoded = DhtDirect.decode(bytes);
    const objects = decoded.storeReplicas!.objects;
    expect(objects.map((o) => o.value.length)).toEqual(message.storeReplicas!.objects.map((o) => o.value.length));
    objects.forEach((o, i) => {
      const sent = message.storeReplicas!.objects[i]!;
      expect(o.value.equals(sent.value)).toBe(true);
      expect(o.guid.equals(sent.guid)).toBe(true);
      expect([o.version, o.hash, o.tombstone, o.contentAddressed]).toEqual([sent.version, sent.hash, sent.tombstone, sent.contentAddressed]);
      expect(o.value.buffer === bytes.buffer).toBe(o.value.length >= VIEW_MIN_BYTES);
      expect(o.guid.buffer === bytes.buffer).toBe(false);
    });
    // A small field kept for long does not see later writes to (or pin) the message's bytes.
    const guid = Buffer.from(objects[0]!.guid);
    bytes.fill(0);
    expect(objects[0]!.guid.equals(guid)).toBe(true);
  });

  it('gRPC serializers hand over the encoded Buffer, and both ends agree', () => {
    const request: DirectRequest = { sender: undefined, app: 'dht', payload: randomBytes(200_000) };
    const wire = PeerService.direct.requestSerialize(request);
    expect(Buffer.isBuffer(wire)).toBe(true);
    const back = PeerService.direct.requestDeserialize(wire);
    expect(Buffer.from(PeerService.direct.requestSerialize(back)).equals(wire)).toBe(true);
  });

  it('toBuffer wraps without copying, bytesField copies below the threshold', () => {
    const u8 = new Uint8Array(new ArrayBuffer(64), 8, 32);
    const wrapped = toBuffer(u8);
    expect(Buffer.isBuffer(wrapped)).toBe(true);
    expect([wrapped.buffer === u8.buffer, wrapped.byteOffset, wrapped.length]).toEqual([true, 8, 32]);
    const buf = Buffer.from('already a buffer');
    expect(toBuffer(buf)).toBe(buf);
    const big = new Uint8Array(VIEW_MIN_BYTES);
    expect(bytesField(big).buffer === big.buffer).toBe(true);
    const small = new Uint8Array(VIEW_MIN_BYTES - 1);
    expect(bytesField(small).buffer === small.buffer).toBe(false);
  });
});
