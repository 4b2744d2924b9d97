/**
 * Protobuf encoding and decoding of a replica write (DhtDirect > StoreReplicasRequest >
 * ObjectRecord, the message a file chunk travels in) with the generated code as built
 * (FlatWriter, views of large bytes fields: services/node/src/rpc/wire.ts) beside the stock
 * @bufbuild/protobuf writer and copying decode it replaces, in one process, interleaved.
 *
 *   node dist/bench/wire.js [--runs 5]
 */
import { randomBytes } from 'node:crypto';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { DhtDirect, type ObjectRecord } from '../services/node/src/gen/pastry/v1/dht_peer';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] ?? 5) || 5;

function message(valueBytes: number): DhtDirect {
  const record: ObjectRecord = {
    guid: randomBytes(16),
    value: randomBytes(valueBytes),
    version: 1_764_000_000_000,
    writer: randomBytes(16),
    hash: randomBytes(32).toString('hex'),
    size: valueBytes,
    createdAtMs: 1_764_000_000_000,
    tombstone: false,
    contentAddressed: true,
    redirect: Buffer.alloc(0),
  };
  return { storeReplicas: { sender: { id: randomBytes(16), address: '127.0.0.1:7000', name: 'pastry-1' }, objects: [record], diverted: false, senderKeeps: false, senderLeavingMs: 0 } };
}

/** What the generated code did before: the stock writer, then a copy into a Buffer. */
const stockEncode = (m: DhtDirect): Buffer => Buffer.from(DhtDirect.encode(m, new BinaryWriter()).finish());
const flatEncode = (m: DhtDirect): Buffer => DhtDirect.encode(m).finish() as Buffer;
/** The stock decode copied every bytes field: the value copied is what the view saves. */
const stockDecode = (b: Buffer): DhtDirect => {
  const m = DhtDirect.decode(new BinaryReader(b));
  for (const o of m.storeReplicas!.objects) o.value = Buffer.from(o.value);
  return m;
};
const flatDecode = (b: Buffer): DhtDirect => DhtDirect.decode(b);

function cpuMicros<T>(n: number, f: () => T): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: string[][] = [];
for (const size of [256, 16 * 1024, 256 * 1024]) {
  const m = message(size);
  const bytes = flatEncode(m);
  if (!bytes.equals(stockEncode(m))) throw new Error('FlatWriter and BinaryWriter disagree');
  // About 0.2 s of work per measurement whatever the size.
  const n = Math.max(500, Math.round(50_000_000 / (size + 2000)));
  const t = { stockEnc: [] as number[], flatEnc: [] as number[], stockDec: [] as number[], flatDec: [] as number[] };
  cpuMicros(n, () => flatEncode(m));
  cpuMicros(n, () => stockEncode(m));
  for (let r = 0; r < runs; r++) {
    t.stockEnc.push(cpuMicros(n, () => stockEncode(m)));
    t.flatEnc.push(cpuMicros(n, () => flatEncode(m)));
    t.stockDec.push(cpuMicros(n, () => stockDecode(bytes)));
    t.flatDec.push(cpuMicros(n, () => flatDecode(bytes)));
  }
  const [se, fe, sd, fd] = [median(t.stockEnc), median(t.flatEnc), median(t.stockDec), median(t.flatDec)];
  rows.push([`${size >= 1024 ? `${size / 1024} KiB` : `${size} B`}`, se.toFixed(2), fe.toFixed(2), (fe / se).toFixed(2), sd.toFixed(2), fd.toFixed(2), (fd / sd).toFixed(2)]);
}

const head = ['value', 'encode stock µs', 'encode flat µs', 'ratio', 'decode copy µs', 'decode view µs', 'ratio'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\nprotobuf: a replica write (DhtDirect > StoreReplicasRequest > ObjectRecord), CPU µs per message, median of ${runs} runs\n`);
console.log(line(head));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
