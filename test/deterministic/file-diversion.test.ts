import { compareCloseness } from '../../services/node/src/core/id';
import { FILE_DIVERSION } from '../../services/node/src/constants';
import { guidForName } from '../../services/node/src/dht/guid';
import { DetRing, seedFromEnv, type DetNode } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(240_000);

const NODES = 32;
const CAPACITY = 16 * 1024;
const VALUE = 'f'.repeat(1024);

/** Names whose GUIDs the node `root` is the true root of. */
function namesRootedAt(ring: DetRing, root: DetNode, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count && i < 1_000_000; i++) {
    const name = `crowded-${i}`;
    if (ring.trueRoot(guidForName(name)) === root) out.push(name);
  }
  return out;
}

describe('deterministic network: file diversion', () => {
  it('a put whose whole neighbourhood is full goes to a salted GUID elsewhere: it reads back through its own name, a remove removes both, nothing is over capacity', async () => {
    const seed = seedFromEnv(41);
    const ring = new DetRing(seed, { leafSetSize: 8, capacityBytes: CAPACITY, antiEntropyIntervalMs: 3_600_000, links: { encode: false } });
    for (const h of ring.create(NODES)) ring.start(h);
    expectClean(seed, 'leaf sets', await ring.converge(90_000));
    const root = ring.live()[0]!;
    // The root's leaf set (8) and itself hold 9 * 16 objects: 48 objects at k = 3. Twice that.
    const names = namesRootedAt(ring, root, 96);
    expect(names.length).toBe(96);
    const failed: string[] = [];
    for (const [i, name] of names.entries()) {
      const r = await ring.net.settle(ring.live()[i % NODES]!.parts.dht.put(name, Buffer.from(VALUE), ring.net.now + 10_000), 20_000);
      if (r.ok) ring.acked.set(name, { name, guid: r.value.guid, value: VALUE, version: r.value.response.version, writer: r.value.response.root.id.toString('hex'), removed: false });
      else failed.push(`${name}: ${String(r.error)}`);
    }
    expectClean(seed, 'puts refused although the ring had room elsewhere', failed);
    const fileDiverted = ring.live().reduce((n, d) => n + d.parts.dht.stats.fileDiverted, 0);
    expect(fileDiverted).toBeGreaterThan(0);
    for (const n of ring.live()) expect(n.store.usage().bytes).toBeLessThanOrEqual(CAPACITY);
    // The neighbourhood is full; the bytes of the diverted files are on nodes outside it.
    const neighbourhood = new Set([root.handle.id, ...root.overlay.state.leafSet.members().map((m) => m.id)]);
    const inside = ring.live().filter((d) => neighbourhood.has(d.handle.id));
    const used = inside.reduce((n, d) => n + d.store.usage().bytes, 0) / (inside.length * CAPACITY);
    expect(used).toBeGreaterThan(0.8);
    const outsideBytes = ring.live().filter((d) => !neighbourhood.has(d.handle.id)).reduce((n, d) => n + d.store.usage().bytes, 0);
    expect(outsideBytes).toBeGreaterThanOrEqual(fileDiverted * VALUE.length);
    console.log(`file diversion (seed ${seed}): ${fileDiverted} of ${names.length} puts diverted to salted GUIDs; the neighbourhood ${(used * 100).toFixed(1)}% full`);
    expectClean(seed, 'acknowledged reads lost', await ring.lostReads());
    // The neighbourhood is full by design: a put acknowledged by W replicas may lack its last copy, never more.
    expectClean(seed, 'objects short of W replicas', shortOfQuorum(ring, await ring.missingReplicas()));

    // A remove takes the diverted file with it; a put into the room it frees is stored in place.
    const redirected = await redirectsOn(ring, names);
    expect(redirected.size).toBeGreaterThan(0);
    const [gone] = [...redirected.keys()];
    const target = redirected.get(gone!)!;
    expect(await ring.remove(ring.live()[3]!, gone!)).toBe(true);
    const leftovers: string[] = [];
    for (const r of ring.trueReplicas(target)) {
      const copy = await r.store.get(target);
      if (copy && !copy.tombstone) leftovers.push(`${r.handle.name} still holds the diverted file ${target}`);
    }
    expectClean(seed, 'diverted files left after their remove', leftovers);
    expectClean(seed, 'acknowledged reads lost after the remove', await ring.lostReads());
    // An overwrite of a diverted name reads the new value.
    const [overwritten] = [...redirected.keys()].slice(1);
    expect(await ring.put(ring.live()[5]!, overwritten!, 'g'.repeat(512))).toBe(true);
    expectClean(seed, 'acknowledged reads lost after the overwrite', await ring.lostReads());
  });

  it('a diverted file whose remove never reached it is found by its root and removed; one its redirect still names stays, even under the same salted GUID', async () => {
    const seed = seedFromEnv(43);
    // Messages encoded as on the wire: the original's GUID travels with every copy of a diverted file.
    const ring = new DetRing(seed, { leafSetSize: 8, capacityBytes: CAPACITY, antiEntropyIntervalMs: 3_600_000 });
    for (const h of ring.create(NODES)) ring.start(h);
    expectClean(seed, 'leaf sets', await ring.converge(90_000));
    const root = ring.live()[0]!;
    const names = namesRootedAt(ring, root, 96);
    for (const [i, name] of names.entries()) await ring.put(ring.live()[i % NODES]!, name, VALUE);
    const redirected = await redirectsOn(ring, names);
    expect(redirected.size).toBeGreaterThanOrEqual(3);
    const [gone, back] = [...redirected.keys()];
    const orphan = redirected.get(gone!)!;

    // The removes of two diverted names lose their second step, as when the root fails between
    // the tombstone and the remove of the diverted file: the files stay, named by nothing.
    type DropFile = { dropFile: (salted: string, deadline: number) => Promise<void> };
    for (const d of ring.live()) (d.parts.dht as unknown as DropFile).dropFile = async () => {};
    expect(await ring.remove(ring.live()[3]!, gone!)).toBe(true);
    expect(await ring.remove(ring.live()[4]!, back!)).toBe(true);
    for (const d of ring.live()) delete (d.parts.dht as unknown as Partial<DropFile>).dropFile;
    expect(await liveCopies(ring, orphan)).toBe(ring.options.replicas);
    // The same name put again diverts again, to the first salted GUID with room: the same
    // one, whose left-over file is now named again and must stay.
    expect(await ring.put(ring.live()[5]!, back!, 'h'.repeat(1000))).toBe(true);
    expect((await redirectsOn(ring, [back!])).get(back!)).toBe(redirected.get(back!));
    const rounds = async (): Promise<void> => {
      for (let i = 0; i < 2; i++) {
        const r = await ring.net.settle(Promise.all(ring.live().map((d) => d.parts.antiEntropy.round())), 300_000);
        expect(r.ok).toBe(true);
      }
    };
    // Young files are not looked at: the put of one may not have written its redirect yet.
    await rounds();
    expect(await liveCopies(ring, orphan)).toBe(ring.options.replicas);
    expect(ring.live().reduce((n, d) => n + d.parts.dht.stats.filesDropped, 0)).toBe(0);

    await ring.net.runFor(FILE_DIVERSION.orphanGraceMs + 1_000);
    await rounds();
    expect(await liveCopies(ring, orphan)).toBe(0);
    const dropped = ring.live().reduce((n, d) => n + d.parts.dht.stats.filesDropped, 0);
    expect(dropped).toBe(1);
    // Every diverted file still stored is the one its original's newest record names.
    const unnamed: string[] = [];
    let copies = 0;
    for (const d of ring.live()) {
      for (const file of await d.store.divertedFiles(undefined, 100_000)) {
        if (file.tombstone) continue;
        copies++;
        const records = (await Promise.all(ring.live().map((n) => n.store.get(file.divertedFrom!)))).filter((o) => o !== undefined);
        const newest = records.sort((a, b) => b.version - a.version)[0];
        if (newest?.redirect !== file.guid) unnamed.push(`${d.handle.name} holds ${file.guid}, diverted for ${file.divertedFrom}, which redirects to ${newest?.redirect ?? 'nothing'}`);
      }
    }
    expectClean(seed, 'diverted files named by nothing', unnamed);
    // Each copy of a diverted file knows its original, on every replica the put reached.
    expect(copies).toBeGreaterThanOrEqual((redirected.size - dropped) * ring.options.writeQuorum);
    console.log(`diverted files (seed ${seed}): ${redirected.size} diverted, ${dropped} left over and removed by their roots`);
    expectClean(seed, 'acknowledged reads lost', await ring.lostReads());

    // A partition cuts the crowded neighbourhood, which holds every original's records, off
    // from the nodes of the diverted files: there, the new roots of the originals find no
    // record at all. That is no evidence that a file is left over: every named file stays.
    const crowded = new Set([root.handle.address, ...root.overlay.state.leafSet.members().map((m) => m.address)]);
    const addresses = ring.live().map((d) => d.handle.address);
    ring.net.partition([addresses.filter((a) => crowded.has(a)), addresses.filter((a) => !crowded.has(a))]);
    await ring.net.runFor(FILE_DIVERSION.stableLeafSetMs + 10_000);
    await rounds();
    expect(ring.live().reduce((n, d) => n + d.parts.dht.stats.filesDropped, 0)).toBe(dropped);
    ring.net.heal();
    expectClean(seed, 'leaf sets after the heal', await ring.converge(120_000));
    await rounds();
    expect(ring.live().reduce((n, d) => n + d.parts.dht.stats.filesDropped, 0)).toBe(dropped);
    expectClean(seed, 'acknowledged reads lost after the partition', await ring.lostReads());
  });

  it('salted GUIDs do not divert again, and a ring full everywhere still answers RESOURCE_EXHAUSTED', async () => {
    const seed = seedFromEnv(42);
    const ring = new DetRing(seed, { leafSetSize: 8, capacityBytes: 4 * 1024, antiEntropyIntervalMs: 3_600_000, links: { encode: false } });
    for (const h of ring.create(8)) ring.start(h);
    expectClean(seed, 'leaf sets', await ring.converge(60_000));
    const errors = new Set<string>();
    let acked = 0;
    for (let i = 0; i < 60 && errors.size === 0; i++) {
      const r = await ring.net.settle(ring.live()[i % 8]!.parts.dht.put(`everywhere-${i}`, Buffer.from('e'.repeat(1024)), ring.net.now + 10_000), 20_000);
      if (r.ok) {
        acked++;
        ring.acked.set(`everywhere-${i}`, { name: `everywhere-${i}`, guid: r.value.guid, value: 'e'.repeat(1024), version: r.value.response.version, writer: r.value.response.root.id.toString('hex'), removed: false });
      } else errors.add((r.error as Error).constructor.name);
    }
    expect([...errors]).toEqual(['ResourceExhaustedError']);
    // Each acknowledged object is on at least W nodes.
    expect(acked).toBeLessThanOrEqual(Math.floor((8 * 4) / ring.options.writeQuorum));
    for (const n of ring.live()) expect(n.store.usage().bytes).toBeLessThanOrEqual(4 * 1024);
    expectClean(seed, 'acknowledged reads lost', await ring.lostReads());
  });
});

/** The problems of objects with more than k - W copies missing. */
function shortOfQuorum(ring: DetRing, problems: string[]): string[] {
  const count = new Map<string, number>();
  for (const p of problems) count.set(p.split(' ')[0]!, (count.get(p.split(' ')[0]!) ?? 0) + 1);
  return problems.filter((p) => count.get(p.split(' ')[0]!)! > ring.options.replicas - ring.options.writeQuorum);
}

/** Live copies of `guid` on all live nodes. */
async function liveCopies(ring: DetRing, guid: string): Promise<number> {
  let n = 0;
  for (const d of ring.live()) {
    const copy = await d.store.get(guid);
    if (copy && !copy.tombstone) n++;
  }
  return n;
}

/** The names among `names` whose root holds a redirect, and the salted GUID each points to. */
async function redirectsOn(ring: DetRing, names: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of names) {
    const guid = guidForName(name);
    const replicas = ring.trueReplicas(guid).sort((a, b) => compareCloseness(guid, a.handle.id, b.handle.id));
    const copy = await replicas[0]!.store.get(guid);
    if (copy?.redirect) out.set(name, copy.redirect);
  }
  return out;
}
