import { PastryClient } from '../../services/cli/src/client';
import { balanceOf } from '../../services/cli/src/commands';
import { walkRing } from '../../services/cli/src/ring';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(240_000);

const PODS = 16;
const OBJECTS = 2000;

/** Writes OBJECTS named objects through every pod, 32 in flight; returns max/mean of objects per pod. */
async function loadAndMeasure(ring: TestRing): Promise<number> {
  const pods = ring.state().pods;
  const clients = pods.map((p) => new PastryClient(p.address, 10_000));
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < OBJECTS) {
        const i = next++;
        await clients[i % clients.length]!.put(`balance-${i}`, Buffer.from(`value-${i}`));
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  } finally {
    clients.forEach((c) => c.close());
  }
  const report = balanceOf(await walkRing(pods[0]!.address));
  expect(report.members).toHaveLength(PODS);
  // Every write acknowledged by a quorum; anti-entropy may still be adding the last copies.
  expect(report.objects.total).toBeGreaterThanOrEqual(2 * OBJECTS);
  return report.objects.maxOverMean!;
}

describe('balance on a 16-pod local ring, by id scheme', () => {
  const measured: Record<string, number> = {};

  it.each([
    ['name', '127.0.25'],
    ['spread', '127.0.26'],
  ] as const)('%s ids', async (scheme, subnet) => {
    const ring = await startRing(PODS, subnet, {}, 120_000, { idScheme: scheme });
    try {
      measured[scheme] = await loadAndMeasure(ring);
      process.stdout.write(`balance: ${PODS} pods, ${OBJECTS} objects, ${scheme} ids: max/mean ${measured[scheme]}\n`);
    } finally {
      await ring.down();
    }
  });

  it('spread ids store far more evenly than name hashes', () => {
    expect(measured.spread).toBeLessThan(measured.name!);
    expect(measured.spread).toBeLessThanOrEqual(1.15);
  });
});
