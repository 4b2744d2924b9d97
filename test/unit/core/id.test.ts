import fc from 'fast-check';
import {
  DIGITS,
  RING_SIZE,
  clockwiseDistance,
  compareCloseness,
  digit,
  fromBigInt,
  idFromBytes,
  idToBytes,
  isId,
  parseId,
  ringDistance,
  sharedPrefixLength,
  toBigInt,
} from '../../../services/node/src/core/id';

const idArb = fc.bigInt({ min: 0n, max: RING_SIZE - 1n }).map(fromBigInt);

describe('ids', () => {
  it('extracts base-16 digits, most significant first', () => {
    const id = '0123456789abcdef0123456789abcdef';
    expect(digit(id, 0)).toBe(0);
    expect(digit(id, 10)).toBe(10);
    expect(digit(id, 15)).toBe(15);
    expect(digit(id, 31)).toBe(15);
  });

  it('measures shared prefixes in digits', () => {
    expect(sharedPrefixLength('a'.repeat(32), 'a'.repeat(32))).toBe(DIGITS);
    expect(sharedPrefixLength('abc' + '0'.repeat(29), 'abd' + '0'.repeat(29))).toBe(2);
    expect(sharedPrefixLength('1' + '0'.repeat(31), '0'.repeat(32))).toBe(0);
  });

  it('round-trips through bytes and bigint', () => {
    fc.assert(
      fc.property(idArb, (id) => {
        expect(idFromBytes(idToBytes(id))).toBe(id);
        expect(fromBigInt(toBigInt(id))).toBe(id);
        expect(isId(id)).toBe(true);
      }),
    );
  });

  it('rejects ids of the wrong length or alphabet', () => {
    expect(() => idFromBytes(Buffer.alloc(15))).toThrow(RangeError);
    expect(() => idFromBytes(Buffer.alloc(17))).toThrow(RangeError);
    expect(() => parseId('xyz')).toThrow(RangeError);
    expect(parseId('ABCDEF' + '0'.repeat(26))).toBe('abcdef' + '0'.repeat(26));
  });

  it('measures clockwise distance across the wrap-around', () => {
    const top = fromBigInt(RING_SIZE - 1n);
    const zero = fromBigInt(0n);
    expect(clockwiseDistance(top, zero)).toBe(1n);
    expect(clockwiseDistance(zero, top)).toBe(RING_SIZE - 1n);
    expect(ringDistance(top, zero)).toBe(1n);
  });

  it('ring distance is symmetric, at most half the ring, and zero only for equal ids', () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        const d = ringDistance(a, b);
        expect(d).toBe(ringDistance(b, a));
        expect(d <= RING_SIZE / 2n).toBe(true);
        expect(d === 0n).toBe(a === b);
      }),
    );
  });

  it('orders closeness consistently, with ties going to the lower id', () => {
    const key = fromBigInt(100n);
    const below = fromBigInt(90n);
    const above = fromBigInt(110n);
    expect(compareCloseness(key, below, above)).toBeLessThan(0);
    expect(compareCloseness(key, above, below)).toBeGreaterThan(0);
    fc.assert(
      fc.property(idArb, idArb, idArb, (k, a, b) => {
        expect(Math.sign(compareCloseness(k, a, b)) + Math.sign(compareCloseness(k, b, a))).toBe(0);
      }),
    );
  });
});
