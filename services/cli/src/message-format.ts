import { isUtf8 } from 'node:buffer';
import os from 'node:os';
import type { Gap, PublishResponse, Subscribed, TopicMessage } from '../../node/src/gen/pastry/v1/messaging';

/** The node's limit on a publisher name (SCRIBE.maxPublisherBytes). */
export const MAX_PUBLISHER_BYTES = 128;

/** One message as `pastry sub --json` prints it: exactly these keys, in this order. */
export interface MessageJson {
  topic: string;
  id: string;
  sequence: number;
  publisher: string;
  /** The payload as text, when it is valid UTF-8... */
  payload?: string;
  /** ...else its bytes in base64 (never both). */
  payloadBase64?: string;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function messageJson(m: TopicMessage): MessageJson {
  const head = { topic: m.topic, id: hex(m.id), sequence: Number(m.sequence), publisher: m.publisher };
  const payload = Buffer.from(m.payload);
  // Text stays readable for scripts; bytes that are not text survive the trip intact.
  return isUtf8(payload) ? { ...head, payload: payload.toString('utf8') } : { ...head, payloadBase64: payload.toString('base64') };
}

export function messageJsonLine(m: TopicMessage): string {
  return JSON.stringify(messageJson(m));
}

/** The in-band record of lost sequences on a --json stream, so a script can count them. */
export function gapJsonLine(g: Gap): string {
  return JSON.stringify({ gap: { first: Number(g.first), last: Number(g.last) } });
}

/**
 * Text from the network made safe for a terminal: control characters (escape sequences,
 * newlines, bells) are shown as \xNN, so a publisher can neither drive the reader's
 * terminal nor fake extra lines. Bytes that are not UTF-8 show as U+FFFD.
 */
export function terminalText(payload: Uint8Array | string): string {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** `[<sequence>] <publisher>: <text>`; an anycast message (not numbered) shows `[anycast]`. */
export function plainLine(m: TopicMessage): string {
  const where = m.anycast || Number(m.sequence) === 0 ? 'anycast' : String(m.sequence);
  return `[${where}] ${terminalText(m.publisher)}: ${terminalText(m.payload)}`;
}

export function subscribedLine(what: string, s: Subscribed, resumed: boolean): string {
  const retained = Number(s.oldestRetained) > 0 ? ` (retained from ${s.oldestRetained})` : '';
  return `${resumed ? 'resubscribed' : 'subscribed'} to ${what} at sequence ${s.sequence}${retained}`;
}

export function gapWarning(what: string, g: Gap): string {
  const range = Number(g.first) === Number(g.last) ? `message ${g.first}` : `messages ${g.first}..${g.last}`;
  return `${range} of ${what} could not be delivered: no longer retained`;
}

/** What pub and send print: `sequence <n> id <hex>`. */
export function publishedLine(r: PublishResponse): string {
  return `sequence ${r.sequence} id ${hex(r.id)}`;
}

/** The first `max` bytes of `text` as UTF-8, never cutting a character in two. */
export function trimUtf8(text: string, max: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > max) break;
    bytes += size;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** `$USER@hostname`, as the node allows it (at most 128 bytes). */
export function defaultPublisher(env: NodeJS.ProcessEnv = process.env): string {
  let user = env.USER ?? env.LOGNAME ?? '';
  if (user === '') {
    try {
      user = os.userInfo().username;
    } catch {
      // No passwd entry (a container with a random uid): the host alone still says who.
      user = 'user';
    }
  }
  return trimUtf8(`${user}@${os.hostname()}`, MAX_PUBLISHER_BYTES);
}
