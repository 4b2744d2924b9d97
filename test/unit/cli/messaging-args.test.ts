import { historyStart, chatTopic } from '../../../services/cli/src/chat';
import { UsageError } from '../../../services/cli/src/commands';
import { exactArgs, isMessagingCommand, messagingCommand, parseCount, parseSequence, publisherOf, subscriptionOf } from '../../../services/cli/src/messaging-command';

describe('messaging command arguments', () => {
  it('take exactly their positionals: an unquoted message is a usage error, not a cut message', () => {
    expect(exactArgs(['t', 'm'], 2, 'usage')).toEqual(['t', 'm']);
    expect(() => exactArgs(['t'], 2, 'usage')).toThrow(UsageError);
    expect(() => exactArgs(['t', 'two', 'words'], 2, 'usage')).toThrow(/quote a message/);
  });

  it('--from is a sequence number, 0 or absent meaning new messages only', () => {
    expect(parseSequence(undefined, '--from')).toBe(0);
    expect(parseSequence('0', '--from')).toBe(0);
    expect(parseSequence('17', '--from')).toBe(17);
    for (const bad of ['-1', '1.5', 'x', '', '99999999999999999999']) expect(() => parseSequence(bad, '--from')).toThrow(UsageError);
  });

  it('--count is a positive integer or no limit', () => {
    expect(parseCount(undefined)).toBe(Infinity);
    expect(parseCount('3')).toBe(3);
    for (const bad of ['0', '-2', 'many']) expect(() => parseCount(bad)).toThrow(UsageError);
  });

  it('sub follows a topic or, with --inbox, an inbox; never both, never neither', () => {
    expect(subscriptionOf(['news'], undefined)).toEqual({ topic: 'news', inbox: '' });
    expect(subscriptionOf([], 'bob')).toEqual({ topic: '', inbox: 'bob' });
    expect(() => subscriptionOf(['news'], 'bob')).toThrow(/not both/);
    expect(() => subscriptionOf([], undefined)).toThrow(UsageError);
  });

  it('--name is at most 128 bytes (the node would refuse it after the fact)', () => {
    expect(publisherOf('me')).toBe('me');
    expect(publisherOf('x'.repeat(128))).toHaveLength(128);
    expect(() => publisherOf('é'.repeat(65))).toThrow(/at most 128 bytes/);
    expect(publisherOf(undefined)).toMatch(/@/);
  });

  it('usage errors come before any connection is made', async () => {
    const io = { out: jest.fn(), raw: jest.fn() };
    const opts = { targets: ['127.0.0.1:1'], json: false, timeoutMs: 100 };
    await expect(messagingCommand('pub', ['t'], opts, io)).rejects.toThrow(UsageError);
    await expect(messagingCommand('send', ['bob', 'a', 'b'], opts, io)).rejects.toThrow(UsageError);
    await expect(messagingCommand('sub', ['t'], { ...opts, count: '0' }, io)).rejects.toThrow(UsageError);
    await expect(messagingCommand('sub', ['t'], { ...opts, from: 'soon' }, io)).rejects.toThrow(UsageError);
    expect(io.out).not.toHaveBeenCalled();
    expect(['pub', 'sub', 'send', 'anycast'].every(isMessagingCommand)).toBe(true);
    expect(isMessagingCommand('chat') || isMessagingCommand('toString')).toBe(false);
  });
});

describe('chat history', () => {
  const head = (sequence: number, oldestRetained: number) => ({ topic: 'chat/r', sequence, oldestRetained });

  it('replays the last 20 retained messages, or as many as are retained', () => {
    expect(historyStart(head(100, 1), 20)).toBe(81);
    expect(historyStart(head(100, 90), 20)).toBe(90);
    expect(historyStart(head(5, 1), 20)).toBe(1);
    expect(historyStart(head(20, 1), 20)).toBe(1);
  });

  it('starts with the next message when nothing is retained or nothing was said yet', () => {
    expect(historyStart(head(0, 0), 20)).toBe(1);
    expect(historyStart(head(50, 0), 20)).toBe(51);
    expect(historyStart(undefined, 20)).toBe(0);
  });

  it('is on the topic chat/ROOM', () => {
    expect(chatTopic('lobby')).toBe('chat/lobby');
  });
});
