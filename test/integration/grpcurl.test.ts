import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startRing, type TestRing } from '../helpers/local-ring';
import { findTool } from '../helpers/tools';

jest.setTimeout(120_000);

/** Each grpcurl process ends by itself after this long (a background stream too). */
const GRPCURL_MAX_SECONDS = 60;

/** One streamed SubscribeResponse as grpcurl prints it (uint64 as strings, bytes as base64, defaults left out). */
interface StreamEvent {
  subscribed?: { topic?: string; sequence?: string; oldestRetained?: string };
  message?: { topic?: string; id?: string; sequence?: string; publisher?: string; payload?: string; publishedAtMs?: string; anycast?: boolean };
  gap?: { first?: string; last?: string };
}

/** grpcurl prints one pretty JSON object per streamed message; the last may still be arriving. */
function streamedObjects(out: string): StreamEvent[] {
  const objects: StreamEvent[] = [];
  for (const piece of out.split(/\n(?=\{)/)) {
    try {
      if (piece.trim() !== '') objects.push(JSON.parse(piece) as StreamEvent);
    } catch {
      // Incomplete: the rest is not printed yet.
    }
  }
  return objects;
}

/** A grpcurl stream running in the background: its events so far, and a wait for one of them. */
class BackgroundCall {
  stdout = '';
  stderr = '';
  exit: number | null = null;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
    child.on('exit', (code, signal) => (this.exit = code ?? (signal ? 128 : 1)));
  }

  events(): StreamEvent[] {
    return streamedObjects(this.stdout);
  }

  async waitFor(what: string, holds: (events: StreamEvent[]) => boolean, ms = 20_000): Promise<StreamEvent[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const events = this.events();
      if (holds(events)) return events;
      const state = `stdout ${JSON.stringify(this.stdout)} stderr ${JSON.stringify(this.stderr)}`;
      if (this.exit !== null) throw new Error(`grpcurl exited (${this.exit}) before ${what}: ${state}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${state}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  stop(): void {
    if (this.exit === null) this.child.kill('SIGTERM');
  }
}

describe('grpcurl against a node (reflection, health, Put, Get, Files, Messaging)', () => {
  let ring: TestRing;
  let grpcurl: string;
  let target: string;
  const background = new Set<BackgroundCall>();
  const run = (...args: string[]): string => execFileSync(grpcurl, ['-plaintext', ...args], { encoding: 'utf8', timeout: 20_000 });
  /** A call expected to fail: grpcurl's exit code and what it printed on stderr. */
  const failing = (args: string[], input?: string): { status: number | null; stderr: string } => {
    const r = spawnSync(grpcurl, ['-plaintext', ...args], { encoding: 'utf8', timeout: 20_000, input });
    return { status: r.status, stderr: r.stderr };
  };
  const startBackground = (...args: string[]): BackgroundCall => {
    const call = new BackgroundCall(spawn(grpcurl, ['-plaintext', '-max-time', String(GRPCURL_MAX_SECONDS), ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    background.add(call);
    return call;
  };
  const unique = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;
  const b64 = (text: string): string => Buffer.from(text).toString('base64');

  beforeAll(async () => {
    grpcurl = findTool('grpcurl');
    ring = await startRing(4, '127.0.13');
    target = ring.state().pods[1]!.address;
  });

  afterEach(() => {
    for (const call of background) call.stop();
    background.clear();
  });

  afterAll(async () => {
    for (const call of background) call.stop();
    await ring?.down();
  });

  it('lists the services through server reflection', () => {
    const services = run(target, 'list').trim().split('\n');
    expect(services).toEqual(expect.arrayContaining(['pastry.v1.Dht', 'pastry.v1.Files', 'pastry.v1.Messaging', 'pastry.v1.Peer', 'grpc.health.v1.Health']));
    expect(run(target, 'describe', 'pastry.v1.Dht')).toMatch(/rpc Route/);
    expect(run(target, 'describe', 'pastry.v1.Files')).toMatch(/rpc Download \( \.pastry\.v1\.DownloadRequest \) returns \( stream \.pastry\.v1\.DownloadResponse \)/);
    const messaging = run(target, 'describe', 'pastry.v1.Messaging');
    expect(messaging).toMatch(/rpc Publish \( \.pastry\.v1\.PublishRequest \) returns \( \.pastry\.v1\.PublishResponse \)/);
    expect(messaging).toMatch(/rpc Subscribe \( \.pastry\.v1\.SubscribeRequest \) returns \( stream \.pastry\.v1\.SubscribeResponse \)/);
    expect(messaging).toMatch(/rpc Send \( \.pastry\.v1\.SendRequest \) returns \( \.pastry\.v1\.PublishResponse \)/);
    expect(messaging).toMatch(/rpc Anycast \( \.pastry\.v1\.AnycastRequest \) returns \( \.pastry\.v1\.AnycastResponse \)/);
    expect(run(target, 'describe', 'pastry.v1.SubscribeResponse')).toMatch(/oneof event/);
  });

  it('reports SERVING on the standard health service once joined', () => {
    expect(JSON.parse(run(target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
    expect(JSON.parse(run('-d', '{"service":"liveness"}', target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
    expect(JSON.parse(run('-d', '{"service":"pastry.v1.Files"}', target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
    expect(JSON.parse(run('-d', '{"service":"pastry.v1.Messaging"}', target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
  });

  it('performs a Put, then a Get', () => {
    const value = Buffer.from('hello from grpcurl');
    const put = JSON.parse(run('-d', JSON.stringify({ name: 'grpcurl-key', value: value.toString('base64') }), target, 'pastry.v1.Dht/Put'));
    expect(Buffer.from(put.guid, 'base64')).toHaveLength(16);
    const other = ring.state().pods[3]!.address;
    const got = JSON.parse(run('-d', JSON.stringify({ key: { name: 'grpcurl-key' } }), other, 'pastry.v1.Dht/Get'));
    expect(Buffer.from(got.value, 'base64').toString()).toBe(value.toString());
    expect(got.guid).toBe(put.guid);
  });

  it('uploads a file as a stream of messages, then streams it back from another node', () => {
    const part = (n: number): Buffer => Buffer.alloc(20_000, n);
    const messages = [JSON.stringify({ chunkSize: 16384, data: part(1).toString('base64') }), JSON.stringify({ data: part(2).toString('base64') })].join('\n');
    const up = JSON.parse(run('-d', messages, target, 'pastry.v1.Files/Upload'));
    expect(up).toMatchObject({ size: '40000', chunks: 3, chunkSize: 16384 });
    const other = ring.state().pods[2]!.address;
    const stat = JSON.parse(run('-d', JSON.stringify({ guid: up.guid }), other, 'pastry.v1.Files/Stat'));
    expect(stat).toMatchObject({ size: '40000', chunks: 3, chunkSize: 16384 });
    // One JSON object per streamed message.
    const out = run('-d', JSON.stringify({ guid: up.guid }), other, 'pastry.v1.Files/Download');
    const pieces = out.split(/\n(?=\{)/).map((m) => JSON.parse(m) as { data: string });
    expect(Buffer.concat(pieces.map((p) => Buffer.from(p.data, 'base64'))).equals(Buffer.concat([part(1), part(2)]))).toBe(true);
  });

  it('Subscribe in the background, Publish from another node: the subscriber prints each message once, in order', async () => {
    const topic = unique('grpcurl-topic');
    const pods = ring.state().pods;
    // The proto's from_sequence: reflection names the JSON field fromSequence; a uint64 is a JSON string.
    const sub = startBackground('-d', JSON.stringify({ topic, fromSequence: '1' }), pods[2]!.address, 'pastry.v1.Messaging/Subscribe');
    const [first] = await sub.waitFor('the subscribed event', (events) => events.length > 0);
    expect(first).toEqual({ subscribed: { topic } });

    const texts = ['first message from grpcurl', 'second message from grpcurl'];
    const acks = texts.map((text) => JSON.parse(run('-d', JSON.stringify({ topic, payload: b64(text), publisher: 'grpcurl-test' }), target, 'pastry.v1.Messaging/Publish')) as { id: string; sequence: string });
    expect(acks.map((a) => a.sequence)).toEqual(['1', '2']);
    expect(Buffer.from(acks[0]!.id, 'base64')).toHaveLength(16);

    const events = await sub.waitFor('both messages', (e) => e.filter((x) => x.message).length >= 2);
    const messages = events.filter((e) => e.message).map((e) => e.message!);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({ topic, id: acks[0]!.id, sequence: '1', publisher: 'grpcurl-test', payload: b64(texts[0]!) });
    expect(messages[1]).toMatchObject({ topic, id: acks[1]!.id, sequence: '2', publisher: 'grpcurl-test', payload: b64(texts[1]!) });
    expect(Number(messages[0]!.publishedAtMs)).toBeGreaterThan(0);
    expect(events.filter((e) => e.gap)).toEqual([]);
  });

  it('a late Subscribe with fromSequence 1 replays the retained messages', async () => {
    const topic = unique('grpcurl-replay');
    for (const text of ['one', 'two', 'three']) run('-d', JSON.stringify({ topic, payload: b64(text), publisher: 'grpcurl-test' }), target, 'pastry.v1.Messaging/Publish');
    const sub = startBackground('-d', JSON.stringify({ topic, fromSequence: '1' }), ring.state().pods[3]!.address, 'pastry.v1.Messaging/Subscribe');
    const events = await sub.waitFor('three retained messages', (e) => e.filter((x) => x.message).length >= 3);
    expect(events[0]).toEqual({ subscribed: { topic, sequence: '3', oldestRetained: '1' } });
    expect(events.filter((e) => e.message).map((e) => [e.message!.sequence, Buffer.from(e.message!.payload ?? '', 'base64').toString()])).toEqual([
      ['1', 'one'],
      ['2', 'two'],
      ['3', 'three'],
    ]);
  });

  it('Send to a named inbox reaches its Subscribe (inbox set)', async () => {
    const inbox = unique('grpcurl-inbox');
    const pods = ring.state().pods;
    const sub = startBackground('-d', JSON.stringify({ inbox }), pods[0]!.address, 'pastry.v1.Messaging/Subscribe');
    await sub.waitFor('the subscribed event', (events) => events.some((e) => e.subscribed));
    const ack = JSON.parse(run('-d', JSON.stringify({ to: inbox, payload: b64('a direct message'), publisher: 'grpcurl-sender' }), pods[3]!.address, 'pastry.v1.Messaging/Send')) as { id: string; sequence: string };
    expect(ack.sequence).toBe('1');
    const events = await sub.waitFor('the direct message', (e) => e.some((x) => x.message));
    expect(events.filter((e) => e.message).map((e) => e.message)).toEqual([
      expect.objectContaining({ id: ack.id, sequence: '1', publisher: 'grpcurl-sender', payload: b64('a direct message') }),
    ]);
  });

  it('Anycast reaches a subscriber, and is NOT_FOUND without one', async () => {
    const topic = unique('grpcurl-anycast');
    const pods = ring.state().pods;
    const sub = startBackground('-d', JSON.stringify({ topic }), pods[2]!.address, 'pastry.v1.Messaging/Subscribe');
    await sub.waitFor('the subscribed event', (events) => events.some((e) => e.subscribed));
    const answer = JSON.parse(run('-d', JSON.stringify({ topic, payload: b64('to any one'), publisher: 'grpcurl-test' }), target, 'pastry.v1.Messaging/Anycast')) as { deliveredBy: { address: string } };
    expect(answer.deliveredBy.address).toBe(pods[2]!.address);
    const events = await sub.waitFor('the anycast message', (e) => e.some((x) => x.message));
    expect(events.find((e) => e.message)!.message).toMatchObject({ topic, anycast: true, payload: b64('to any one') });

    const none = failing(['-d', JSON.stringify({ topic: unique('grpcurl-nobody'), payload: b64('x') }), target, 'pastry.v1.Messaging/Anycast']);
    expect(none.stderr).toMatch(/Code: NotFound/);
  });

  it('malformed Messaging requests are InvalidArgument with a clear message', () => {
    const cases: Array<[string, object, RegExp]> = [
      ['Subscribe', { topic: 't', inbox: 'me' }, /set topic or inbox, not both/],
      ['Subscribe', { topic: '' }, /topic is empty/],
      ['Publish', { topic: '', payload: b64('x') }, /topic is empty/],
      ['Publish', { topic: 'x'.repeat(257), payload: b64('x') }, /longer than 256 bytes/],
      ['Publish', { topic: 't', payload: Buffer.alloc(64 * 1024 + 1).toString('base64') }, /payload is 65537 bytes/],
      ['Publish', { topic: 't', publisher: 'p'.repeat(129) }, /publisher is longer than 128 bytes/],
      ['Send', { to: '', payload: b64('x') }, /inbox name is empty/],
      ['Send', { to: 'n'.repeat(129), payload: b64('x') }, /inbox name is longer than 128 bytes/],
      ['Anycast', { topic: '' }, /topic is empty/],
    ];
    for (const [method, request, message] of cases) {
      // The request on stdin (-d @): a 64 KiB payload is too long for one argument on some systems.
      const r = failing(['-max-time', '10', '-d', '@', target, `pastry.v1.Messaging/${method}`], JSON.stringify(request));
      expect(`${method} ${r.stderr}`).toMatch(/Code: InvalidArgument/);
      expect(`${method} ${r.stderr}`).toMatch(message);
      // grpcurl exits with 64 + the status code (INVALID_ARGUMENT is 3).
      expect(r.status).toBe(67);
    }
    // A field the message does not have never reaches the node: grpcurl refuses it itself.
    expect(failing(['-d', '{"topic":"t","sequence":"1"}', target, 'pastry.v1.Messaging/Publish']).stderr).toMatch(/no known field named sequence/);
  });
});
