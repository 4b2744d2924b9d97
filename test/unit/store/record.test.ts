import { metaLength, packObject, readShort, shortLength, unpackObject, writeShort } from '../../../services/node/src/store/record';
import type { StoredObject } from '../../../services/node/src/store/store';

function roundTrip(text: string): [string, number] {
  const buf = Buffer.alloc(shortLength(text) + 2, 0xee);
  const end = writeShort(text, buf, 1);
  expect(end).toBe(1 + shortLength(text));
  const [back, after] = readShort(buf, 1);
  return [back, after - 1];
}

describe('packed object records', () => {
  it('keeps any short string exactly, halving lowercase hex', () => {
    for (const text of ['', 'a', 'ab', 'abc', 'AB', '0'.repeat(32), 'f'.repeat(64), 'x'.repeat(127), 'x'.repeat(128), 'é'.repeat(70), 'z'.repeat(65_535), 'ab'.repeat(126), 'ab'.repeat(127)]) {
      const [back, used] = roundTrip(text);
      expect(back).toBe(text);
      expect(used).toBe(shortLength(text));
    }
    expect(shortLength('0'.repeat(32))).toBe(17);
    expect(shortLength('ab'.repeat(32))).toBe(33);
    expect(shortLength('AB'.repeat(16))).toBe(33);
    expect(() => shortLength('z'.repeat(65_536))).toThrow(RangeError);
  });

  it('packs and unpacks an object with every field, numbers bit for bit', () => {
    const o: StoredObject = {
      guid: '0123456789abcdef0123456789abcdef',
      value: Buffer.from([0, 1, 2, 255]),
      version: Number.MAX_SAFE_INTEGER,
      writer: 'fe'.repeat(16),
      hash: 'Not a hash',
      size: 1.5,
      createdAt: 1_800_000_000_123,
      tombstone: true,
      contentAddressed: true,
      divertedTo: 'a'.repeat(32),
      redirect: 'b'.repeat(32),
      divertedFrom: 'c'.repeat(32),
    };
    const packed = packObject(o);
    expect(packed.length).toBe(metaLength(o) + 4);
    expect(unpackObject(o.guid, packed)).toEqual(o);
    expect(unpackObject(o.guid, packed, false)).toEqual({ ...o, value: Buffer.alloc(0) });
    const plain: StoredObject = { ...o, tombstone: false, contentAddressed: false, divertedTo: undefined, redirect: undefined, divertedFrom: undefined, version: 0.1 + 0.2 };
    const back = unpackObject(plain.guid, packObject(plain));
    expect(back.version).toBe(0.1 + 0.2);
    expect('divertedTo' in back || 'redirect' in back || 'divertedFrom' in back).toBe(false);
  });
});
