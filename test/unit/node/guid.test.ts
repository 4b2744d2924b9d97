import { createHash } from 'node:crypto';
import { guidForContent, guidForName } from '../../../services/node/src/dht/guid';
import { resolveKey } from '../../../services/node/src/dht/dht';
import { InvalidArgumentError } from '../../../services/node/src/errors';

describe('GUIDs', () => {
  it('a name hashes to the first 128 bits of its SHA-256', () => {
    expect(guidForName('pastry-0')).toBe(createHash('sha256').update('pastry-0').digest('hex').slice(0, 32));
  });

  it('content hashes to the first 128 bits of the value SHA-256', () => {
    const v = Buffer.from([1, 2, 3]);
    expect(guidForContent(v)).toBe(createHash('sha256').update(v).digest('hex').slice(0, 32));
  });

  it('a key names exactly one of a 16-byte GUID or a non-empty name', () => {
    expect(resolveKey({ guid: Buffer.alloc(16, 0xab), name: '' })).toBe('ab'.repeat(16));
    expect(resolveKey({ guid: Buffer.alloc(0), name: 'x' })).toBe(guidForName('x'));
    expect(() => resolveKey({ guid: Buffer.alloc(0), name: '' })).toThrow(InvalidArgumentError);
    expect(() => resolveKey(undefined)).toThrow(InvalidArgumentError);
    expect(() => resolveKey({ guid: Buffer.alloc(8), name: '' })).toThrow(/16 bytes/);
    expect(() => resolveKey({ guid: Buffer.alloc(16), name: 'x' })).toThrow(/exactly one/);
    expect(() => resolveKey({ guid: Buffer.alloc(0), name: 'x'.repeat(2000) })).toThrow(/longer than/);
  });
});
