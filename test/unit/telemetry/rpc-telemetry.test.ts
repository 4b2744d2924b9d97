import { Metadata } from '@grpc/grpc-js';
import { HOP_TIMINGS_TRAILER, MAX_HOP_TIMINGS, parseTimings } from '../../../services/node/src/telemetry/rpc-telemetry';
import { tracedHops } from '../../../services/cli/src/trace-route';

const timing = (i: number, ms: number) => ({ i, id: String(i).repeat(32).slice(0, 32), name: `pastry-${i}`, address: `127.0.0.1:${7000 + i}`, ms, reason: 'leaf_set', prefix: i, span: '' });

describe('hop timings in trailers', () => {
  it('reads what the next hop sent, bounded, and ignores malformed input', () => {
    const md = new Metadata();
    md.set(HOP_TIMINGS_TRAILER, Buffer.from(JSON.stringify([timing(1, 3), timing(2, 1)])));
    expect(parseTimings(md).map((t) => t.i)).toEqual([1, 2]);
    const many = new Metadata();
    many.set(HOP_TIMINGS_TRAILER, Buffer.from(JSON.stringify(Array.from({ length: 100 }, (_, i) => timing(i, 1)))));
    expect(parseTimings(many)).toHaveLength(MAX_HOP_TIMINGS);
    for (const bad of ['not json', '{"a":1}', '[1,2]', '[{"ms":"x"}]']) {
      const b = new Metadata();
      b.set(HOP_TIMINGS_TRAILER, Buffer.from(bad));
      expect(parseTimings(b)).toEqual([]);
    }
    expect(parseTimings(new Metadata())).toEqual([]);
  });

  it('gives each hop its share: its time minus the next hop\'s', () => {
    const hops = tracedHops([timing(0, 10), timing(1, 6), timing(2, 1)] as never);
    expect(hops.map((h) => h.hopMs)).toEqual([4, 5, 1]);
    expect(hops.map((h) => h.elapsedMs)).toEqual([10, 6, 1]);
  });
});
