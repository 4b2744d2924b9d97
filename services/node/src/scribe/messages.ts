import { type Id, idFromBytes } from '../core/id';
import { SCRIBE } from '../constants';
import { sha256 } from '../dht/guid';
import { InvalidArgumentError } from '../errors';
import { ScribeDirect, ScribeRouted } from '../gen/pastry/v1/scribe_peer';
import { toBuffer } from '../rpc/wire';

/** Scribe's application id on the overlay. */
export const SCRIBE_APP = 'scribe';

/** Inboxes are topics under this prefix: `pastry send NAME` publishes to `inbox/NAME`. */
export const INBOX_PREFIX = 'inbox/';

/** A topic's id: the first 128 bits of the SHA-256 of its name (its root is the closest node). */
export function topicId(topic: string): Id {
  return idFromBytes(sha256(topic).subarray(0, 16));
}

export function checkTopic(topic: string, field = 'topic'): string {
  const bytes = Buffer.byteLength(topic);
  if (bytes === 0) throw new InvalidArgumentError(`${field} is empty`);
  if (bytes > SCRIBE.maxTopicBytes) throw new InvalidArgumentError(`${field} is longer than ${SCRIBE.maxTopicBytes} bytes`);
  if (topic.includes('\u0000')) throw new InvalidArgumentError(`${field} contains a NUL character`);
  return topic;
}

export function checkPayload(payload: Uint8Array): Buffer {
  if (payload.length > SCRIBE.maxPayloadBytes) throw new InvalidArgumentError(`payload is ${payload.length} bytes, more than ${SCRIBE.maxPayloadBytes}`);
  return Buffer.from(payload);
}

export function checkPublisher(publisher: string): string {
  if (Buffer.byteLength(publisher) > SCRIBE.maxPublisherBytes) throw new InvalidArgumentError(`publisher is longer than ${SCRIBE.maxPublisherBytes} bytes`);
  return publisher;
}

/** The topic of a named inbox. */
export function inboxTopic(name: string): string {
  if (Buffer.byteLength(name) === 0) throw new InvalidArgumentError('the inbox name is empty');
  if (Buffer.byteLength(name) > SCRIBE.maxPublisherBytes) throw new InvalidArgumentError(`the inbox name is longer than ${SCRIBE.maxPublisherBytes} bytes`);
  return INBOX_PREFIX + name;
}

export function encodeRouted(message: ScribeRouted): Buffer {
  return toBuffer(ScribeRouted.encode(message).finish());
}

export function encodeDirect(message: ScribeDirect): Buffer {
  return toBuffer(ScribeDirect.encode(message).finish());
}

/** What a peer routed; malformed input is the peer's error. */
export function decodeRouted(payload: Buffer): ScribeRouted {
  const m = decode(() => ScribeRouted.decode(payload), 'routed');
  const topic = m.join?.topic ?? m.publish?.topic ?? m.anycast?.topic ?? m.head?.topic;
  if (topic === undefined) throw new InvalidArgumentError('malformed Scribe message: no body');
  checkTopic(topic);
  return m;
}

export function decodeDirect(payload: Buffer): ScribeDirect {
  const m = decode(() => ScribeDirect.decode(payload), 'direct');
  if (!m.deliver && !m.refresh && !m.leave && !m.adopt && !m.anycast && !m.claim && m.routed === undefined) throw new InvalidArgumentError('malformed Scribe message: no body');
  return m;
}

function decode<T>(fn: () => T, kind: string): T {
  try {
    return fn();
  } catch (error) {
    throw new InvalidArgumentError(`malformed Scribe ${kind} message: ${(error as Error).message}`);
  }
}
