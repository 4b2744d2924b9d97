import { DirectRequest } from '../../services/node/src/gen/pastry/v1/peer';
import { randomInt } from 'node:crypto';
import { credentials, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { seededRandom } from '../../services/cli/src/chaos/rng';
import { PastryClient } from '../../services/cli/src/client';
import { DhtClient, DhtService } from '../../services/node/src/gen/pastry/v1/dht';
import { PeerService } from '../../services/node/src/gen/pastry/v1/peer';
import { FilesService } from '../../services/node/src/gen/pastry/v1/files';
import { MessagingClient, MessagingService, type SubscribeResponse } from '../../services/node/src/gen/pastry/v1/messaging';
import { ComputeService } from '../../services/node/src/gen/pastry/v1/compute';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(90_000);

/** PASTRY_FUZZ_SEED replays a run; otherwise every run tries new inputs. */
const SEED = Number(process.env.PASTRY_FUZZ_SEED ?? randomInt(2 ** 31));
const INPUTS_PER_METHOD = 40;
const PARALLEL = 8;

interface MethodDefinition {
  path: string;
  responseStream: boolean;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
}

/** Every method of the services a node serves, from the generated definitions. */
const METHODS: MethodDefinition[] = [...Object.values(DhtService), ...Object.values(FilesService), ...Object.values(MessagingService), ...Object.values(ComputeService), ...Object.values(PeerService)] as MethodDefinition[];

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

/**
 * The same for a server-streaming method (Files.Download, Messaging.Subscribe): the first
 * response means the node took the request (OK, and the call is cancelled, as a client that
 * goes away); otherwise the status it ended with.
 */
function callRawStream(client: Client, path: string, bytes: Buffer): Promise<ServiceError | null> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (e: ServiceError | null): void => {
      if (!settled) resolve(e);
      settled = true;
    };
    const call = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new Metadata(), { deadline: new Date(Date.now() + 5000) });
    call.on('data', () => {
      settle(null);
      call.cancel();
    });
    call.on('error', (e: ServiceError) => settle(e));
    call.on('status', (s: { code: number }) => {
      if (s.code === status.OK) settle(null);
    });
  });
}

const call = (client: Client, method: MethodDefinition, bytes: Buffer): Promise<ServiceError | null> => (method.responseStream ? callRawStream : callRaw)(client, method.path, bytes);
const byPath = (path: string): MethodDefinition => METHODS.find((m) => m.path === path)!;

/** Publishes one message through `client` and reads it back with a Subscribe from sequence 1. */
async function publishAndReadBack(client: MessagingClient, topic: string, payload: Buffer): Promise<SubscribeResponse[]> {
  const deadline = (): Date => new Date(Date.now() + 10_000);
  await new Promise<void>((resolve, reject) => client.publish({ topic, payload, publisher: 'fuzz' }, new Metadata(), { deadline: deadline() }, (e) => (e ? reject(e) : resolve())));
  return new Promise((resolve, reject) => {
    const events: SubscribeResponse[] = [];
    const stream = client.subscribe({ topic, fromSequence: 1, inbox: '' }, { deadline: deadline() });
    stream.on('data', (event: SubscribeResponse) => {
      events.push(event);
      if (event.message) {
        stream.cancel();
        resolve(events);
      }
    });
    stream.on('error', (e: ServiceError) => {
      if (e.code !== status.CANCELLED) reject(e);
    });
  });
}

describe('random bytes to every method never answer INTERNAL', () => {
  let ring: TestRing;
  let target: string;
  let raw: DhtClient;
  let messaging: MessagingClient;

  beforeAll(async () => {
    process.stdout.write(`fuzz seed ${SEED} (PASTRY_FUZZ_SEED=${SEED} replays it)\n`);
    ring = await startRing(3, '127.0.24');
    target = ring.state().pods[0]!.address;
    raw = new DhtClient(target, credentials.createInsecure());
    messaging = new MessagingClient(target, credentials.createInsecure());
  });

  afterAll(async () => {
    raw?.close();
    messaging?.close();
    await ring?.down();
  });

  it('covers the Dht, Files, Messaging, Compute and Peer services', () => {
    const messagingMethods = ['/pastry.v1.Messaging/Publish', '/pastry.v1.Messaging/Subscribe', '/pastry.v1.Messaging/Send', '/pastry.v1.Messaging/Anycast'];
    expect(METHODS.map((m) => m.path)).toEqual(expect.arrayContaining(['/pastry.v1.Dht/Put', '/pastry.v1.Files/Upload', '/pastry.v1.Files/Download', '/pastry.v1.Files/Stat', ...messagingMethods, '/pastry.v1.Compute/Run', '/pastry.v1.Compute/Status', '/pastry.v1.Peer/Join', '/pastry.v1.Peer/Direct']));
    expect(byPath('/pastry.v1.Messaging/Subscribe').responseStream).toBe(true);
  });

  it('malformed bytes to every Messaging method are INVALID_ARGUMENT, and nothing is published', async () => {
    for (const path of ['/pastry.v1.Messaging/Publish', '/pastry.v1.Messaging/Subscribe', '/pastry.v1.Messaging/Send', '/pastry.v1.Messaging/Anycast']) {
      // Field 1 claims 64 bytes, one follows.
      const truncated = await call(raw, byPath(path), Buffer.from([0x0a, 0x40, 0x61]));
      expect({ path, code: truncated?.code, details: truncated?.details }).toEqual({ path, code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^malformed request: /) });
      // Field 1 (the topic or inbox name) as a varint: skipped as unknown, so the name is empty.
      const wrongType = await call(raw, byPath(path), Buffer.concat([tag(1, 0), varint(5n)]));
      expect({ path, code: wrongType?.code, details: wrongType?.details }).toEqual({ path, code: status.INVALID_ARGUMENT, details: expect.stringMatching(/is empty/) });
    }
    // from_sequence 2^63 is past Number.MAX_SAFE_INTEGER; 2^64-1 in an over-long varint too.
    const subscribe = byPath('/pastry.v1.Messaging/Subscribe');
    for (const sequence of [varint(2n ** 63n), Buffer.from([...Array(10).fill(0xff), 0x01])]) {
      const e = await call(raw, subscribe, Buffer.concat([lengthDelimited(1, Buffer.from('fuzz-topic')), tag(2, 0), sequence]));
      expect({ code: e?.code, details: e?.details }).toEqual({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/MAX_SAFE_INTEGER|too large|malformed/) });
    }
    // A payload field whose length runs past the end: refused, so the topic stays empty.
    const topic = `fuzz-untouched-${SEED}`;
    const e = await call(raw, byPath('/pastry.v1.Messaging/Publish'), Buffer.concat([lengthDelimited(1, Buffer.from(topic)), tag(2, 2), varint(2n ** 20n), Buffer.from('short')]));
    expect(e?.code).toBe(status.INVALID_ARGUMENT);
    const events = await new Promise<SubscribeResponse[]>((resolve, reject) => {
      const stream = messaging.subscribe({ topic, fromSequence: 1, inbox: '' }, { deadline: new Date(Date.now() + 10_000) });
      stream.on('data', (event: SubscribeResponse) => {
        stream.cancel();
        resolve([event]);
      });
      stream.on('error', (err: ServiceError) => {
        if (err.code !== status.CANCELLED) reject(err);
      });
    });
    expect(events).toEqual([{ subscribed: { topic, sequence: 0, oldestRetained: 0 } }]);
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
          const e = await call(raw, byPath(path), bytes);
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
    const topic = `after-fuzz-${SEED}`;
    const events = await publishAndReadBack(messaging, topic, Buffer.from('still publishing'));
    expect(events.find((e) => e.message)?.message).toMatchObject({ topic, sequence: 1, publisher: 'fuzz', payload: Buffer.from('still publishing') });
  });
});
