import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { signalPod } from '../../services/cli/src/cluster';
import { startRing, type TestRing } from '../helpers/local-ring';
import { CLI } from '../helpers/tools';

jest.setTimeout(180_000);

const SUBNET = '127.0.31';
const PODS = 5;
const addr = (i: number): string => `${SUBNET}.${i + 1}:7000`;
const unique = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;
const JSON_KEYS = ['id', 'payload', 'publisher', 'sequence', 'topic'];

/** A CLI process: its output so far, its exit code once it has exited. */
class Proc {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  }

  write(text: string | Buffer): void {
    this.child.stdin?.write(text);
  }

  /** The exit code, or a failure when the process has not exited within `ms`. */
  async code(ms = 30_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms} ms; stdout ${JSON.stringify(this.stdout)} stderr ${JSON.stringify(this.stderr)}`)), ms)));
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function until(what: string, holds: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A single-quoted shell word. */
const shellWord = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe('the messaging CLI on a local ring (pub, sub, send, anycast, chat)', () => {
  let ring: TestRing;
  const running = new Set<Proc>();
  const env = { ...process.env, PASTRY_LOG_LEVEL: 'warn', USER: 'tester', TERM: 'xterm' };

  const start = (args: string[]): Proc => {
    const p = new Proc(spawn(process.execPath, [CLI, ...args, '--run-dir', ring.options.runDir], { env }));
    running.add(p);
    return p;
  };

  /** Runs the CLI to its end, with `input` on stdin. */
  const pastry = async (args: string[], input: string | Buffer = ''): Promise<Proc & { exit: number }> => {
    const p = start(args);
    p.child.stdin?.end(input);
    return Object.assign(p, { exit: await p.code(60_000) });
  };

  /** The CLI under a pseudo-terminal (util-linux script), as a person at a terminal runs it. */
  const underPty = (args: string[]): Proc => {
    const command = [process.execPath, CLI, ...args, '--run-dir', ring.options.runDir].map(shellWord).join(' ');
    const p = new Proc(spawn('script', ['-qfec', command, '/dev/null'], { env }));
    running.add(p);
    return p;
  };

  beforeAll(async () => {
    ring = await startRing(PODS, SUBNET);
  });

  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await ring?.down();
  });

  it('pub prints sequence and id; sub --from 1 --count N --json prints exactly those messages, in order', async () => {
    const topic = unique('news');
    const first = await pastry(['pub', topic, 'hello world', '--target', addr(0)]);
    expect(first.exit).toBe(0);
    expect(first.stdout).toMatch(/^sequence 1 id [0-9a-f]{32}\n$/);
    const second = await pastry(['pub', topic, '-', '--name', 'bob', '--json', '--target', addr(1)], 'from stdin\nwith two lines');
    expect(second.exit).toBe(0);
    const secondOut = JSON.parse(second.stdout);
    expect(secondOut).toEqual({ topic, id: expect.stringMatching(/^[0-9a-f]{32}$/), sequence: 2 });
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
    const third = await pastry(['pub', topic, '-', '--target', addr(2)], binary);
    expect(third.exit).toBe(0);

    const sub = await pastry(['sub', topic, '--from', '1', '--count', '3', '--json', '--target', addr(3)]);
    expect(sub.exit).toBe(0);
    // --json: stdout is only message lines, and stderr has no `subscribed` chatter.
    expect(sub.stderr).toBe('');
    const lines = sub.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(Object.keys(lines[0]).sort()).toEqual(JSON_KEYS);
    expect(lines[0]).toEqual({ topic, id: first.stdout.split(' ')[3]!.trim(), sequence: 1, publisher: `tester@${os.hostname()}`, payload: 'hello world' });
    expect(lines[1]).toEqual({ topic, id: secondOut.id, sequence: 2, publisher: 'bob', payload: 'from stdin\nwith two lines' });
    expect(Object.keys(lines[2]).sort()).toEqual(['id', 'payloadBase64', 'publisher', 'sequence', 'topic']);
    expect(Buffer.from(lines[2].payloadBase64, 'base64').equals(binary)).toBe(true);
    // Plain output: one line per message, control characters shown, not obeyed.
    const plain = await pastry(['sub', topic, '--from', '2', '--count', '1', '--target', addr(4)]);
    expect(plain.stdout).toBe('[2] bob: from stdin\\nwith two lines\n');
    expect(plain.stderr).toMatch(new RegExp(`^subscribed to ${topic} at sequence 3`));
  });

  it('a live subscriber started first receives what is published later, and nothing older', async () => {
    const topic = unique('live');
    expect((await pastry(['pub', topic, 'before', '--target', addr(0)])).exit).toBe(0);
    const sub = start(['sub', topic, '--count', '1', '--target', addr(2)]);
    await until('the subscription', () => sub.stderr.includes(`subscribed to ${topic} at sequence 1`));
    const pub = await pastry(['pub', topic, 'after', '--name', 'alice', '--target', addr(4)]);
    expect(pub.exit).toBe(0);
    expect(await sub.code()).toBe(0);
    expect(sub.stdout).toBe('[2] alice: after\n');
    // Without --count it runs until Ctrl-C or SIGTERM, which end it normally.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const endless = start(['sub', topic, '--target', addr(1)]);
      await until('the subscription', () => endless.stderr.includes(`subscribed to ${topic} at sequence 2`));
      endless.child.kill(signal);
      expect(await endless.code()).toBe(0);
    }
  });

  it('send delivers to the inbox subscriber; the inbox keeps it for a later --from 1', async () => {
    const inbox = unique('alice');
    const sub = start(['sub', '--inbox', inbox, '--count', '1', '--target', addr(1)]);
    await until('the inbox subscription', () => sub.stderr.includes(`subscribed to inbox ${inbox}`));
    const send = await pastry(['send', inbox, 'psst', '--name', 'carol', '--json', '--target', addr(3)]);
    expect(send.exit).toBe(0);
    expect(JSON.parse(send.stdout)).toEqual({ to: inbox, id: expect.stringMatching(/^[0-9a-f]{32}$/), sequence: 1 });
    expect(await sub.code()).toBe(0);
    expect(sub.stdout).toBe('[1] carol: psst\n');
    const later = await pastry(['sub', '--inbox', inbox, '--from', '1', '--count', '1', '--json', '--target', addr(0)]);
    expect(JSON.parse(later.stdout)).toMatchObject({ id: JSON.parse(send.stdout).id, sequence: 1, publisher: 'carol', payload: 'psst' });
  });

  it('anycast: NOT_FOUND without a subscriber; with one, it takes the message and the node is named', async () => {
    const topic = unique('work');
    const none = await pastry(['anycast', topic, 'job', '--target', addr(0)]);
    expect(none.exit).toBe(1);
    expect(none.stderr).toMatch(new RegExp(`^pastry: ${addr(0).replace(/\./g, '\\.')}: NOT_FOUND: `));
    const worker = start(['sub', topic, '--count', '1', '--target', addr(2)]);
    await until('the worker subscription', () => worker.stderr.includes(`subscribed to ${topic}`));
    const taken = await pastry(['anycast', topic, 'job-1', '--json', '--name', 'boss', '--target', addr(4)]);
    expect(taken.exit).toBe(0);
    // The worker's subscription lives on the node it subscribed through.
    expect(JSON.parse(taken.stdout)).toEqual({ topic, deliveredBy: { name: 'pastry-2', id: expect.stringMatching(/^[0-9a-f]{32}$/), address: addr(2) } });
    expect(await worker.code()).toBe(0);
    expect(worker.stdout).toBe('[anycast] boss: job-1\n');
  });

  it('bad input: INVALID_ARGUMENT exits 1 and publishes nothing; a usage error exits 2', async () => {
    const empty = await pastry(['pub', '', 'x', '--target', addr(0)]);
    expect(empty.exit).toBe(1);
    expect(empty.stderr).toMatch(/INVALID_ARGUMENT: topic is empty/);
    const topic = unique('big');
    const big = await pastry(['pub', topic, '-', '--target', addr(1)], Buffer.alloc(64 * 1024 + 1, 0x61));
    expect(big.exit).toBe(1);
    expect(big.stderr).toMatch(/INVALID_ARGUMENT: payload is 65537 bytes/);
    const fits = await pastry(['pub', topic, '-', '--target', addr(1)], Buffer.alloc(64 * 1024, 0x61));
    expect(fits.exit).toBe(0);
    // The oversized message took no sequence: the one that fits is the first.
    expect(fits.stdout).toMatch(/^sequence 1 /);
    for (const args of [['pub', topic, 'x', '--bogus'], ['pub', topic], ['pub', topic, 'two', 'words'], ['sub'], ['sub', topic, '--inbox', 'x'], ['sub', topic, '--count', '0'], ['sub', topic, '--from', '-1'], ['send', 'x'], ['chat']]) {
      const r = await pastry([...args, '--target', addr(0)]);
      expect({ args, exit: r.exit }).toEqual({ args, exit: 2 });
      expect(r.stderr).toMatch(/^pastry: /);
    }
  });

  it('two people chat under real terminals: each sees the other, neither sees their own line twice; /quit exits 0', async () => {
    const room = unique('room');
    const a = underPty(['chat', room, '--name', 'a', '--target', addr(1)]);
    const b = underPty(['chat', room, '--name', 'b', '--target', addr(3)]);
    await until('a to join', () => a.stdout.includes(`joined chat/${room} as a`));
    await until('b to join', () => b.stdout.includes(`joined chat/${room} as b`));
    a.write('hello from a\r');
    await until("a's line on b's screen", () => b.stdout.includes('a: hello from a'));
    b.write('hi from b\r');
    await until("b's line on a's screen", () => a.stdout.includes('b: hi from b'));
    // Own lines came back before the other's: had they been printed, they would be there.
    expect(a.stdout).not.toContain('a: hello from a');
    expect(b.stdout).not.toContain('b: hi from b');
    a.write('/quit\r');
    b.write('/quit\r');
    expect(await a.code()).toBe(0);
    expect(await b.code()).toBe(0);
    // Without a terminal (a pipe): the room's recent history, then the piped lines are sent.
    const piped = await pastry(['chat', room, '--name', 'c', '--target', addr(0)], 'from a pipe\n');
    expect(piped.exit).toBe(0);
    expect(piped.stdout).toContain('a: hello from a\nb: hi from b\n');
    const history = await pastry(['sub', `chat/${room}`, '--from', '3', '--count', '1', '--json', '--target', addr(2)]);
    expect(JSON.parse(history.stdout)).toMatchObject({ sequence: 3, publisher: 'c', payload: 'from a pipe' });
  });

  it('a subscription whose node dies resumes through the next target, losing and repeating nothing', async () => {
    const topic = unique('failover');
    // The test kills the subscriber's node (pod 1 or 2), not the topic's root: a root's death
    // is the node's own contract, tested with the node.
    const route = await pastry(['route', topic, '--json', '--target', addr(0)]);
    const victim = JSON.parse(route.stdout).root.name === 'pastry-1' ? 2 : 1;
    // --from 1: the first message reaches the subscriber whenever its subscription is confirmed.
    const sub = start(['sub', topic, '--from', '1', '--count', '3', '--json', '--target', `${addr(victim)},${addr(3)}`]);
    expect((await pastry(['pub', topic, 'one', '--target', addr(4)])).exit).toBe(0);
    await until('the first message', () => sub.stdout.includes('"payload":"one"'));
    signalPod(ring.options.runDir, `pastry-${victim}`, 'SIGKILL');
    await until('the resubscription', () => sub.stderr.includes(`resubscribing through ${addr(3)} from sequence 2`));
    expect((await pastry(['pub', topic, 'two', '--target', addr(4)])).exit).toBe(0);
    expect((await pastry(['pub', topic, 'three', '--target', addr(0)])).exit).toBe(0);
    expect(await sub.code()).toBe(0);
    const got = sub.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(got.map((m) => [m.sequence, m.payload])).toEqual([[1, 'one'], [2, 'two'], [3, 'three']]);
  });
});
