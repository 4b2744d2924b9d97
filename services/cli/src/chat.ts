import readline from 'node:readline';
import type { Gap, Subscribed, TopicMessage } from '../../node/src/gen/pastry/v1/messaging';
import { UsageError } from './commands';
import { gapWarning, hex, terminalText } from './message-format';
import { MessagingApi } from './messaging-client';
import { exactArgs } from './messaging-command';
import { follow, topicHead } from './subscription';

/** Recent messages a chat shows on joining (the room's retained window permitting). */
export const CHAT_HISTORY = 20;

export interface ChatOptions {
  targets: string[];
  /** Who this user is to the others (the messages' publisher). */
  name: string;
  /** Deadline of each publish and of each (re)subscription's confirmation. */
  timeoutMs: number;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function chatTopic(room: string): string {
  return `chat/${room}`;
}

/** The from_sequence that replays the last `depth` messages the topic still retains. */
export function historyStart(head: Subscribed | undefined, depth: number): number {
  if (!head) return 0;
  const newest = Number(head.sequence);
  const oldest = Number(head.oldestRetained);
  if (oldest === 0) return newest + 1;
  return Math.max(oldest, newest - depth + 1, 1);
}

/** `pastry chat ROOM --name ME`: a terminal chat on the topic chat/ROOM. */
export async function chatCommand(args: readonly string[], opts: ChatOptions): Promise<number> {
  const [room] = exactArgs(args, 1, 'usage: pastry chat ROOM [--name ME]');
  if (room === '') throw new UsageError('usage: pastry chat ROOM [--name ME] (ROOM must not be empty)');
  await new Chat(chatTopic(room!), opts).run();
  return 0;
}

/**
 * Lines typed are published in order (one at a time); the room's messages are printed
 * above the line being typed. Own messages come back through the subscription too: they
 * are recognised by the id Publish returned and not printed again.
 */
class Chat {
  private readonly stop = new AbortController();
  private readonly api: MessagingApi;
  private readonly input: NonNullable<ChatOptions['input']>;
  private readonly output: NonNullable<ChatOptions['output']>;
  private readonly terminal: boolean;
  private rl: readline.Interface | undefined;
  private readonly ownIds = new Set<string>();
  private sending: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private closing = false;
  private finished!: (error?: unknown) => void;
  /** The newest sequence when the chat joined: the history ends there. */
  private historyEnd = 0;
  private historyShown!: () => void;
  private readonly history = new Promise<void>((resolve) => (this.historyShown = resolve));

  constructor(
    private readonly topic: string,
    private readonly opts: ChatOptions,
  ) {
    this.api = new MessagingApi(opts.targets[0]!, opts.timeoutMs);
    this.input = opts.input ?? process.stdin;
    this.output = opts.output ?? process.stdout;
    this.terminal = Boolean(this.input.isTTY && this.output.isTTY);
  }

  async run(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => (this.finished = (error) => (error === undefined ? resolve() : reject(error))));
    const onSignal = (): void => void this.finish();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const head = await topicHead(this.opts.targets, this.topic, this.opts.timeoutMs, this.stop.signal);
      if (this.closing) return;
      const from = historyStart(head, CHAT_HISTORY);
      this.historyEnd = Number(head?.sequence ?? 0);
      if (from === 0 || from > this.historyEnd) this.historyShown();
      this.openInput();
      this.follow(from);
      await done;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      this.stop.abort();
      this.rl?.close();
      this.api.close();
    }
  }

  private openInput(): void {
    const rl = readline.createInterface({ input: this.input, output: this.output, prompt: '> ', terminal: this.terminal });
    this.rl = rl;
    rl.on('line', (line) => this.onLine(line));
    // Ctrl-D, or the end of piped input; Ctrl-C in a terminal arrives as a key, not a signal.
    // Piped input ends at once: show the room's history before leaving, as a person would see it.
    rl.on('close', () => void this.finish(undefined, !this.terminal));
    rl.on('SIGINT', () => void this.finish());
    if (this.terminal) rl.prompt();
  }

  private follow(fromSequence: number): void {
    const events = {
      subscribed: (_s: Subscribed, target: string, resumed: boolean) => {
        this.show(resumed ? `*** back in ${this.topic}, through ${target}` : `*** joined ${this.topic} as ${terminalText(this.opts.name)} (/quit to leave)`);
      },
      message: (m: TopicMessage) => this.onMessage(m),
      gap: (g: Gap) => {
        this.show(`*** ${gapWarning(this.topic, g)}`);
        if (Number(g.last) >= this.historyEnd) this.historyShown();
      },
      notice: (text: string) => this.show(`*** ${text}`),
    };
    follow({ targets: this.opts.targets, topic: this.topic, inbox: '', fromSequence, confirmTimeoutMs: this.opts.timeoutMs, signal: this.stop.signal }, events).then(
      (how) => void this.finish(how === 'ended' ? new Error(`the node ended the subscription to ${this.topic}`) : undefined),
      (error: unknown) => void this.finish(error),
    );
  }

  private onLine(line: string): void {
    if (this.closing) return;
    const text = line.replace(/\r$/, '');
    if (text.trim() === '/quit') return void this.finish();
    if (text.trim() !== '') this.publish(text);
    if (this.terminal) this.rl?.prompt();
  }

  /** Publishes after the previous line is through, so the room sees lines in the order typed. */
  private publish(text: string): void {
    this.inFlight++;
    this.sending = this.sending.then(async () => {
      try {
        const r = await this.api.publish(this.topic, Buffer.from(text, 'utf8'), this.opts.name);
        this.ownIds.add(hex(r.id));
      } catch (error) {
        this.show(`*** not sent: ${terminalText(text)} (${(error as Error).message})`);
      } finally {
        this.inFlight--;
      }
    });
  }

  private async onMessage(m: TopicMessage): Promise<void> {
    // Our own message can come back before Publish has answered with its id.
    if (m.publisher === this.opts.name && this.inFlight > 0) await this.sending;
    if (!this.ownIds.delete(hex(m.id))) this.show(`${terminalText(m.publisher)}: ${terminalText(m.payload)}`);
    if (Number(m.sequence) >= this.historyEnd) this.historyShown();
  }

  /** Prints a line above the one being typed, then redraws the prompt and what was typed. */
  private show(text: string): void {
    const rl = this.rl;
    if (!this.terminal || !rl || this.closing) {
      this.output.write(text + '\n');
      return;
    }
    // The typed line may wrap over several rows: clear them all.
    readline.moveCursor(this.output, 0, -rl.getCursorPos().rows);
    readline.cursorTo(this.output, 0);
    readline.clearScreenDown(this.output);
    this.output.write(text + '\n');
    rl.prompt(true);
  }

  /** Leaves once what was typed is published (each publish has a deadline), and with `waitHistory` the history shown. */
  private async finish(error?: unknown, waitHistory = false): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.sending;
    if (waitHistory) await within(this.history, this.opts.timeoutMs);
    this.stop.abort();
    if (this.terminal) this.output.write('\n');
    this.finished(error);
  }
}

/** Waits for `promise`, at most `ms`. */
function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
