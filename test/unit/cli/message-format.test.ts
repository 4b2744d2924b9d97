import os from 'node:os';
import type { TopicMessage } from '../../../services/node/src/gen/pastry/v1/messaging';
import { defaultPublisher, gapJsonLine, gapWarning, messageJsonLine, plainLine, publishedLine, subscribedLine, terminalText, trimUtf8 } from '../../../services/cli/src/message-format';

const id = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const message = (over: Partial<TopicMessage> = {}): TopicMessage => ({ topic: 'news', id, sequence: 7, publisher: 'alice', payload: Buffer.from('hello'), publishedAtMs: 1, anycast: false, ...over });

describe('sub --json lines', () => {
  it('are exactly {topic, id, sequence, publisher, payload} with the id as 32 hex digits', () => {
    const line = messageJsonLine(message());
    expect(line).toBe('{"topic":"news","id":"00112233445566778899aabbccddeeff","sequence":7,"publisher":"alice","payload":"hello"}');
  });

  it('carry payloadBase64 instead of payload when the bytes are not UTF-8', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const parsed = JSON.parse(messageJsonLine(message({ payload: bytes })));
    expect(Object.keys(parsed)).toEqual(['topic', 'id', 'sequence', 'publisher', 'payloadBase64']);
    expect(Buffer.from(parsed.payloadBase64, 'base64').equals(bytes)).toBe(true);
  });

  it('keep valid UTF-8 as text, including control characters, multi-byte text and the empty payload', () => {
    expect(JSON.parse(messageJsonLine(message({ payload: Buffer.from('a\nb\u001b[31m') }))).payload).toBe('a\nb\u001b[31m');
    expect(JSON.parse(messageJsonLine(message({ payload: Buffer.from('grüße 🍰') }))).payload).toBe('grüße 🍰');
    expect(JSON.parse(messageJsonLine(message({ payload: Buffer.alloc(0) })))).toMatchObject({ payload: '' });
    // A character cut in half is not UTF-8.
    expect(JSON.parse(messageJsonLine(message({ payload: Buffer.from('🍰').subarray(0, 3) })))).toHaveProperty('payloadBase64', '8J+N');
  });

  it('report a gap in-band as {"gap":{"first","last"}}', () => {
    expect(gapJsonLine({ first: 3, last: 9 })).toBe('{"gap":{"first":3,"last":9}}');
  });
});

describe('plain output', () => {
  it('is one line per message: [sequence] publisher: text', () => {
    expect(plainLine(message())).toBe('[7] alice: hello');
    expect(plainLine(message({ sequence: 0, anycast: true }))).toBe('[anycast] alice: hello');
  });

  it('shows control characters instead of obeying them, so a message is one line and cannot drive the terminal', () => {
    expect(plainLine(message({ payload: Buffer.from('two\nlines\u001b[2J\u0007\ttab'), publisher: 'eve\r' }))).toBe('[7] eve\\x0d: two\\nlines\\x1b[2J\\x07\ttab');
    expect(terminalText('\u009b31m')).toBe('\\x9b31m');
    expect(terminalText(Buffer.from([0x61, 0xff]))).toBe('a\ufffd');
  });

  it('says where a subscription starts, what was lost and what was published', () => {
    expect(subscribedLine('news', { topic: 'news', sequence: 12, oldestRetained: 3 }, false)).toBe('subscribed to news at sequence 12 (retained from 3)');
    expect(subscribedLine('inbox bob', { topic: 'inbox/bob', sequence: 0, oldestRetained: 0 }, true)).toBe('resubscribed to inbox bob at sequence 0');
    expect(gapWarning('news', { first: 4, last: 4 })).toBe('message 4 of news could not be delivered: no longer retained');
    expect(gapWarning('news', { first: 4, last: 8 })).toBe('messages 4..8 of news could not be delivered: no longer retained');
    expect(publishedLine({ id, sequence: 42 })).toBe('sequence 42 id 00112233445566778899aabbccddeeff');
  });
});

describe('the publisher name', () => {
  it('is trimmed to whole UTF-8 characters', () => {
    expect(trimUtf8('abc', 2)).toBe('ab');
    expect(trimUtf8('aé', 2)).toBe('a');
    expect(trimUtf8('a🍰b', 5)).toBe('a🍰');
    expect(trimUtf8('a🍰b', 4)).toBe('a');
  });

  it('defaults to $USER@hostname, at most 128 bytes', () => {
    expect(defaultPublisher({ USER: 'ann' })).toBe(`ann@${os.hostname()}`);
    const long = defaultPublisher({ USER: 'é'.repeat(100) });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(128);
    expect(long.startsWith('é'.repeat(64))).toBe(true);
    expect(defaultPublisher({})).toMatch(/@/);
  });
});
