import { DirectRequest } from '../../services/node/src/gen/pastry/v1/peer';
import { randomInt } from 'node:crypto';
import { credentials, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { seededRandom } from '../../services/cli/src/chaos/rng';
import { PastryClient } from '../../services/cli/src/client';
import { DhtClient, DhtService } from '../../services/node/src/gen/pastry/v1/dht';
import { PeerService } from '../../services/node/src/gen/pastry/v1/peer';
import { FilesService } from '../../services/node/src/gen/pastry/v1/files';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(90_000);

/** PASTRY_FUZZ_SEED replays a run; otherwise every run tries new inputs. */
const SEED = Number(process.env.PASTRY_FUZZ_SEED ?? randomInt(2 ** 31));
const INPUTS_PER_METHOD = 40;
const PARALLEL = 8;

interface MethodDefinition {
  path: string;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
}

/** Every method of the services a node serves, from the generated definitions. */
const METHODS: MethodDefinition[] = [...Object.values(DhtService), ...Object.values(FilesService), ...Object.values(PeerService)] as MethodDefinition[];

type Rand = () => number;
const int = (rand: Rand, n: number): number => Math.floor(rand() * n);
const pick = <T>(rand: Rand, items: readonly T[]): T => items[int(rand, items.length)]!;

function varint(value: bigint): Buffer {
  const out: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

const tag = (field: number, wireType: number): Buffer => varint(BigInt((field << 3) | wireType));
const lengthDelimited = (field: number, payload: Buffer): Buffer => Buffer.concat([tag(field, 2), varint(BigInt(payload.length)), payload]);

function randomBytes(rand: Rand, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => int(rand, 256)));
}

/** Varints at the edges: 0, small, 2^32, 2^53+1, 2^63, 2^64-1, and an over-long 11-byte one. */
function edgeVarint(rand: Rand): Buffer {
  const values = [0n, 1n, 127n, 300n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
  return rand() < 0.1 ? Buffer.from([...Array(10).fill(0xff), 0x01]) : varint(pick(rand, values));
}

/** A payload for a length-delimited field: an id, an address, text, noise or a nested message. */
function payload(rand: Rand, depth: number): Buffer {
  switch (int(rand, 6)) {
    case 0:
      return randomBytes(rand, 16);
    case 1:
      // Loopback addresses where nothing listens: a node that learns them finds them dead fast.
      return Buffer.from(`127.0.24.${200 + int(rand, 50)}:${1 + int(rand, 3)}`);
    case 2:
      return Buffer.from('x'.repeat(int(rand, 40)));
    case 3:
      return randomBytes(rand, int(rand, 24));
    default:
      return depth < 3 ? structured(rand, depth + 1) : randomBytes(rand, int(rand, 8));
  }
}

/** A random message that is protobuf on the wire: fields 1..9 of every wire type, nested. */
function structured(rand: Rand, depth = 0): Buffer {
  const parts: Buffer[] = [];
  const fields = 1 + int(rand, 6);
  for (let i = 0; i < fields; i++) {
    const field = 1 + int(rand, 9);
    const kind = int(rand, 10);
    if (kind < 3) parts.push(tag(field, 0), edgeVarint(rand));
    else if (kind < 8) parts.push(lengthDelimited(field, payload(rand, depth)));
    else if (kind === 8) parts.push(tag(field, 1), randomBytes(rand, 8));
    else parts.push(tag(field, 5), randomBytes(rand, 4));
  }
  return Buffer.concat(parts);
}

/** What the method's own decoder accepts, re-encoded: a valid message of the right type, if any. */
function validFor(method: MethodDefinition, rand: Rand): Buffer | undefined {
  for (let tries = 0; tries < 8; tries++) {
    try {
      return method.requestSerialize(method.requestDeserialize(structured(rand)));
    } catch {
      // Not decodable as this type; try another.
    }
  }
  return undefined;
}

/** One input for `method`: noise, edge varints, huge lengths, truncated or corrupted valid messages. */
function input(method: MethodDefinition, rand: Rand): Buffer {
  switch (int(rand, 8)) {
    case 0:
      return randomBytes(rand, int(rand, 64));
    case 1:
      return Buffer.concat([tag(1 + int(rand, 9), 0), edgeVarint(rand)]);
    case 2:
      // A length far beyond the bytes that follow (up to 2^32).
      return Buffer.concat([tag(1 + int(rand, 9), 2), varint(BigInt(2 ** (8 + int(rand, 25)))), randomBytes(rand, int(rand, 8))]);
    case 3:
      return structured(rand);
    case 4:
    case 5: {
      const valid = validFor(method, rand) ?? structured(rand);
      return valid.subarray(0, int(rand, valid.length + 1));
    }
    case 6: {
      const valid = Buffer.from(validFor(method, rand) ?? structured(rand));
      if (valid.length > 0) valid[int(rand, valid.length)] = int(rand, 256);
      return valid;
    }
    default:
      return Buffer.concat([validFor(method, rand) ?? Buffer.alloc(0), randomBytes(rand, 1 + int(rand, 8))]);
  }
}

function callRaw(client: Client, path: string, bytes: Buffer): Promise<ServiceError | null> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      new Metadata(),
      { deadline: new Date(Date.now() + 5000) },
      (e) => resolve(e),
    );
  });
}

describe('random bytes to every method never answer INTERNAL', () => {
  let ring: TestRing;
  let target: string;
  let raw: DhtClient;

  beforeAll(async () => {
    process.stdout.write(`fuzz seed ${SEED} (PASTRY_FUZZ_SEED=${SEED} replays it)\n`);
    ring = await startRing(3, '127.0.24');
    target = ring.state().pods[0]!.address;
    raw = new DhtClient(target, credentials.createInsecure());
  });

  afterAll(async () => {
    raw?.close();
    await ring?.down();
  });

  it('covers the Dht, Files and Peer services', () => {
    expect(METHODS.map((m) => m.path)).toEqual(expect.arrayContaining(['/pastry.v1.Dht/Put', '/pastry.v1.Files/Upload', '/pastry.v1.Files/Download', '/pastry.v1.Files/Stat', '/pastry.v1.Peer/Join', '/pastry.v1.Peer/Direct']));
  });

  it('a request the decoder rejects is INVALID_ARGUMENT, with the decoder\'s reason', async () => {
    // An ObjectRecord whose version is 2^63, over Number.MAX_SAFE_INTEGER.
    const record = Buffer.concat([lengthDelimited(1, Buffer.alloc(16, 1)), tag(3, 0), varint(2n ** 63n)]);
    // The DHT's StoreReplicas travels inside Peer.Direct; the DHT decodes it and says why it cannot.
    const payload = lengthDelimited(1, lengthDelimited(2, record));
    const direct = Buffer.from(DirectRequest.encode({ sender: { id: Buffer.alloc(16, 2), address: 'fuzz:1', name: '' }, app: 'dht', payload }).finish());
    const e = await callRaw(raw, '/pastry.v1.Peer/Direct', direct);
    expect(e?.code).toBe(status.INVALID_ARGUMENT);
    expect(e?.details).toMatch(/^malformed DHT message: .*MAX_SAFE_INTEGER/);
    const truncated = await callRaw(raw, '/pastry.v1.Dht/Put', Buffer.from([0x0a, 0x40, 0x61]));
    expect(truncated?.code).toBe(status.INVALID_ARGUMENT);
    expect(truncated?.details).toMatch(/^malformed request: /);
  });

  it(`${INPUTS_PER_METHOD} inputs per method, then the node still serves`, async () => {
    const rand = seededRandom(SEED);
    const cases = METHODS.flatMap((m) => Array.from({ length: INPUTS_PER_METHOD }, () => ({ path: m.path, bytes: input(m, rand) })));
    const internal: string[] = [];
    const codes = new Map<number, number>();
    for (let i = 0; i < cases.length; i += PARALLEL) {
      await Promise.all(
        cases.slice(i, i + PARALLEL).map(async ({ path, bytes }) => {
          const e = await callRaw(raw, path, bytes);
          const code = e?.code ?? status.OK;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          if (code === status.INTERNAL) internal.push(`${path} ${bytes.toString('hex')}: ${e?.details}`);
        }),
      );
    }
    process.stdout.write(`fuzz seed ${SEED}: ${cases.length} calls, codes ${JSON.stringify(Object.fromEntries(codes))}\n`);
    expect({ seed: SEED, internal }).toEqual({ seed: SEED, internal: [] });

    const c = new PastryClient(target);
    try {
      expect((await c.status()).ready).toBe(true);
      await c.put('after-fuzz', Buffer.from('still serving'));
      expect((await c.get('after-fuzz')).value.toString()).toBe('still serving');
    } finally {
      c.close();
    }
  });
});
