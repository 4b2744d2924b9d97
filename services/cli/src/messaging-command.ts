import { nodeView } from './client';
import { UsageError, type Io } from './commands';
import { defaultPublisher, gapJsonLine, gapWarning, hex, messageJsonLine, plainLine, publishedLine, subscribedLine, MAX_PUBLISHER_BYTES } from './message-format';
import { MessagingApi } from './messaging-client';
import { follow } from './subscription';

export interface MessagingOptions {
  /** Nodes to use, first first; a subscription resumes through the next when its stream fails. */
  targets: string[];
  json: boolean;
  /** --name: the publisher shown to subscribers (default $USER@hostname). */
  name?: string;
  /** --from: sub's first sequence (0 or absent: new messages only). */
  from?: string;
  /** --inbox: sub reads this inbox instead of a topic. */
  inbox?: string;
  /** --count: sub exits after this many messages. */
  count?: string;
  /** Deadline of a publish/send/anycast; for sub, how long each (re)subscription may take to be confirmed. */
  timeoutMs: number;
  err?: (text: string) => void;
  /** The payload of MESSAGE `-` (default: all of stdin). */
  readStdin?: () => Promise<Buffer>;
  /** Ends a subscription (default: SIGINT or SIGTERM). */
  signal?: AbortSignal;
}

const USAGE = {
  pub: 'usage: pastry pub TOPIC MESSAGE [--name NAME]   (MESSAGE - reads stdin)',
  sub: 'usage: pastry sub TOPIC [--from N] [--count N] [--json] | pastry sub --inbox NAME',
  send: 'usage: pastry send NAME MESSAGE [--name ME]   (MESSAGE - reads stdin)',
  anycast: 'usage: pastry anycast TOPIC MESSAGE [--name NAME]',
} as const;

export type MessagingCommand = keyof typeof USAGE;

export function isMessagingCommand(command: string): command is MessagingCommand {
  return Object.hasOwn(USAGE, command);
}

/** Exactly `n` positionals: a message with spaces that was not quoted is a usage error, not a truncated message. */
export function exactArgs(args: readonly string[], n: number, usage: string): string[] {
  if (args.length < n) throw new UsageError(usage);
  if (args.length > n) throw new UsageError(`${usage}\n(too many arguments: quote a message that has spaces)`);
  return args.slice(0, n);
}

/** A sequence number flag: a non-negative integer. */
export function parseSequence(value: string | undefined, flag: string): number {
  if (value === undefined) return 0;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`${flag} needs a sequence number (0, 1, 2, ...), got ${JSON.stringify(value)}`);
  return Number(value);
}

/** --count: a positive integer, or no limit. */
export function parseCount(value: string | undefined): number {
  if (value === undefined) return Infinity;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new UsageError(`--count needs a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** What sub follows: a topic (the one positional) or, with --inbox, an inbox (no positional). */
export function subscriptionOf(args: readonly string[], inbox: string | undefined): { topic: string; inbox: string } {
  if (inbox === undefined) return { topic: exactArgs(args, 1, USAGE.sub)[0]!, inbox: '' };
  if (args.length > 0) throw new UsageError(`sub takes a topic or --inbox NAME, not both\n${USAGE.sub}`);
  return { topic: '', inbox };
}

/** The publisher name: --name (the node rejects more than 128 bytes, so say it here) or $USER@hostname. */
export function publisherOf(name: string | undefined): string {
  if (name === undefined) return defaultPublisher();
  if (Buffer.byteLength(name) > MAX_PUBLISHER_BYTES) throw new UsageError(`--name is at most ${MAX_PUBLISHER_BYTES} bytes, got ${Buffer.byteLength(name)}`);
  return name;
}

export async function messagingCommand(command: MessagingCommand, args: string[], opts: MessagingOptions, io: Io): Promise<number> {
  if (command === 'sub') return subscribeCommand(args, opts, io);
  const [to, message] = exactArgs(args, 2, USAGE[command]);
  const publisher = publisherOf(opts.name);
  const payload = message === '-' ? await (opts.readStdin ?? readStdin)() : Buffer.from(message!, 'utf8');
  const api = new MessagingApi(opts.targets[0]!, opts.timeoutMs);
  try {
    if (command === 'anycast') {
      const node = nodeView((await api.anycast(to!, payload, publisher)).deliveredBy);
      io.out(opts.json ? JSON.stringify({ topic: to, deliveredBy: node }) : `delivered by ${node.name || node.id} ${node.address} (id ${node.id})`);
      return 0;
    }
    const r = command === 'pub' ? await api.publish(to!, payload, publisher) : await api.send(to!, payload, publisher);
    const key = command === 'pub' ? 'topic' : 'to';
    io.out(opts.json ? JSON.stringify({ [key]: to, id: hex(r.id), sequence: Number(r.sequence) }) : publishedLine(r));
    return 0;
  } finally {
    api.close();
  }
}

/** `pastry sub`: prints messages until --count, Ctrl-C/SIGTERM or the node ends the stream; resubscribes after a failure. */
async function subscribeCommand(args: string[], opts: MessagingOptions, io: Io): Promise<number> {
  const what = subscriptionOf(args, opts.inbox);
  const fromSequence = parseSequence(opts.from, '--from');
  const count = parseCount(opts.count);
  const err = opts.err ?? ((t: string) => process.stderr.write(t + '\n'));
  const label = what.inbox !== '' ? `inbox ${what.inbox}` : what.topic;
  const stop = new AbortController();
  const release = stopOn(opts.signal, stop);
  let received = 0;
  try {
    const how = await follow(
      { targets: opts.targets, ...what, fromSequence, confirmTimeoutMs: opts.timeoutMs, signal: stop.signal },
      {
        subscribed: (s, target, resumed) => {
          if (!opts.json) err(`${subscribedLine(label, s, resumed)}${resumed ? ` through ${target}` : ''}`);
        },
        message: (m) => {
          io.out(opts.json ? messageJsonLine(m) : plainLine(m));
          if (++received >= count) stop.abort();
        },
        gap: (g) => {
          err(`pastry: warning: ${gapWarning(label, g)}`);
          if (opts.json) io.out(gapJsonLine(g));
        },
        notice: (text) => err(`pastry: ${text}`),
      },
    );
    if (how === 'ended') err(`pastry: the node ended the subscription to ${label}`);
    return 0;
  } finally {
    release();
  }
}

/** Aborts `stop` on `signal`, or else on SIGINT/SIGTERM; returns the undo. */
export function stopOn(signal: AbortSignal | undefined, stop: AbortController): () => void {
  const abort = (): void => stop.abort();
  if (signal) {
    signal.addEventListener('abort', abort, { once: true });
    return () => signal.removeEventListener('abort', abort);
  }
  process.on('SIGINT', abort);
  process.on('SIGTERM', abort);
  return () => {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
  };
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  return Buffer.concat(parts);
}
