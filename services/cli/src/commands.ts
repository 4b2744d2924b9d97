import { readFileSync } from 'node:fs';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { listObjects } from './dht-peer';
import { idFromBytes } from '../../node/src/core/id';
import { ClientError, PastryClient, nodeView } from './client';
import { table, shortId } from './format';
import { walkRing } from './ring';

export interface Io {
  out(text: string): void;
  raw(bytes: Buffer): void;
}

export async function putCommand(client: PastryClient, args: { name?: string; value?: string; file?: string }, json: boolean, io: Io): Promise<void> {
  let value: Buffer;
  let name: string;
  if (args.file !== undefined) {
    value = readFileSync(args.file);
    name = args.name ?? '';
  } else {
    if (args.name === undefined || args.value === undefined) throw new UsageError('usage: pastry put <name> <value> | pastry put --file F [name]');
    name = args.name;
    value = Buffer.from(args.value);
  }
  if (args.name !== undefined && args.name.length === 0) throw new UsageError('the name must not be empty (use --file without a name for a content-addressed object)');
  const res = await client.put(name, value).catch((error: unknown) => {
    // A value has a size limit; a file of any size goes in as chunks.
    if (args.file !== undefined && (error as ClientError).code === status.RESOURCE_EXHAUSTED) throw new ClientError(`${(error as Error).message} (for a file of any size: pastry file put ${args.file})`, status.RESOURCE_EXHAUSTED);
    throw error;
  });
  const guid = idFromBytes(res.guid);
  if (json) io.out(JSON.stringify({ guid, root: nodeView(res.root), hops: res.hops.map(nodeView) }));
  else io.out(guid);
}

export async function getCommand(client: PastryClient, key: string, json: boolean, io: Io): Promise<void> {
  const res = await client.get(key);
  if (json) io.out(JSON.stringify({ guid: idFromBytes(res.guid), valueBase64: res.value.toString('base64'), size: res.value.length, root: nodeView(res.root), hops: res.hops.map(nodeView) }));
  else io.raw(res.value);
}

export async function removeCommand(client: PastryClient, key: string, json: boolean, io: Io): Promise<void> {
  const res = await client.remove(key);
  const guid = idFromBytes(res.guid);
  if (json) io.out(JSON.stringify({ guid, removed: res.removed, root: nodeView(res.root) }));
  else io.out(res.removed ? `removed ${guid}` : `${guid} was not stored`);
}

export async function routeCommand(client: PastryClient, key: string, json: boolean, io: Io): Promise<void> {
  const res = await client.route(key);
  const out = { key: idFromBytes(res.key), root: nodeView(res.root), hops: res.hops.map(nodeView) };
  if (json) {
    io.out(JSON.stringify(out));
    return;
  }
  io.out(`key ${out.key} → root ${out.root.name || out.root.id} (${out.hops.length} hop${out.hops.length === 1 ? '' : 's'})`);
  io.out(table(['hop', 'name', 'id', 'address'], [['0', '(entry)', '', client.target], ...out.hops.map((h, i) => [String(i + 1), h.name, h.id, h.address])]));
}

export async function statusCommand(client: PastryClient, json: boolean, io: Io): Promise<void> {
  const s = await client.status();
  const view = {
    self: nodeView(s.self),
    ready: s.ready,
    leafSet: { left: s.leafSetLeft.map(nodeView), right: s.leafSetRight.map(nodeView) },
    routingTable: {
      rowsFilled: s.routingTable?.rowsFilled ?? 0,
      entries: s.routingTable?.entries ?? 0,
      slots: (s.routingTable?.slots ?? []).map((e) => ({ row: e.row, column: e.column, node: nodeView(e.node), rttMs: e.rttMs })),
    },
    neighborhoodSet: s.neighborhoodSet.map(nodeView),
    estimatedRingSize: s.estimatedRingSize,
    objectsStored: s.objectsStored,
  };
  if (json) {
    io.out(JSON.stringify(view));
    return;
  }
  io.out(`${view.self.name || '(unnamed)'}  id ${view.self.id}  ${view.self.address}  ${view.ready ? 'ready' : 'NOT READY'}`);
  io.out(`estimated ring size ${view.estimatedRingSize}, ${view.objectsStored} objects stored`);
  io.out(`routing table: ${view.routingTable.entries} entries in ${view.routingTable.rowsFilled} rows; neighbourhood set: ${view.neighborhoodSet.length}`);
  const leaf = [...view.leafSet.left.map((n, i) => [`-${i + 1}`, n.name, n.id, n.address]).reverse(), ['0', view.self.name + ' (self)', view.self.id, view.self.address], ...view.leafSet.right.map((n, i) => [`+${i + 1}`, n.name, n.id, n.address])];
  io.out(table(['leaf', 'name', 'id', 'address'], leaf));
}

export async function ringCommand(target: string, json: boolean, io: Io): Promise<void> {
  const members = await walkRing(target);
  if (json) {
    io.out(JSON.stringify({ members: members.map(({ name, id, address, leafSet }) => ({ name, id, address, leafSet })) }));
    return;
  }
  io.out(table(['name', 'id', 'address', 'ready', 'leaf set'], members.map((m) => [m.name, m.id, m.address, m.ready, m.leafSet.map(shortId).join(' ')])));
}

/** How evenly the ring spreads what it stores: per member, and max/mean over the members. */
export interface BalanceReport {
  members: { name: string; id: string; address: string; objects: number; bytes: number }[];
  objects: Spread;
  bytes: Spread;
}

export interface Spread {
  total: number;
  mean: number;
  max: number;
  /** The member holding the most; null on an empty ring. */
  maxMember: string | null;
  /** max / mean: 1 is perfect balance; null when nothing is stored. */
  maxOverMean: number | null;
}

export function balanceOf(members: readonly { name: string; id: string; address: string; objects: number; bytes: number }[]): BalanceReport {
  const spread = (of: (m: (typeof members)[number]) => number): Spread => {
    const total = members.reduce((a, m) => a + of(m), 0);
    const mean = members.length === 0 ? 0 : total / members.length;
    const top = members.reduce<(typeof members)[number] | undefined>((best, m) => (!best || of(m) > of(best) ? m : best), undefined);
    const max = top ? of(top) : 0;
    return { total, mean: round3(mean), max, maxMember: top ? top.name || top.id : null, maxOverMean: mean > 0 ? round3(max / mean) : null };
  };
  return {
    members: members.map(({ name, id, address, objects, bytes }) => ({ name, id, address, objects, bytes })),
    objects: spread((m) => m.objects),
    bytes: spread((m) => m.bytes),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** `pastry balance`: live objects and bytes on every member the target can reach. */
export async function balanceCommand(target: string, json: boolean, io: Io): Promise<void> {
  const report = balanceOf(await walkRing(target));
  if (json) {
    io.out(JSON.stringify(report));
    return;
  }
  const share = (n: number, total: number): string => (total === 0 ? '-' : `${((100 * n) / total).toFixed(1)}%`);
  io.out(table(['name', 'address', 'objects', 'share', 'bytes', 'share'], report.members.map((m) => [m.name, m.address, m.objects, share(m.objects, report.objects.total), m.bytes, share(m.bytes, report.bytes.total)])));
  for (const [what, s] of [['objects', report.objects], ['bytes', report.bytes]] as const) {
    io.out(`${what}: ${s.total} on ${report.members.length} members, mean ${s.mean}, max ${s.max}${s.maxMember ? ` (${s.maxMember})` : ''}, max/mean ${s.maxOverMean ?? '-'}`);
  }
}

export async function objectsCommand(target: string, json: boolean, io: Io): Promise<void> {
  {
    const res = await listObjects(target, true);
    const rows = res.objects.map((o) => ({ guid: o.guid.toString('hex'), version: Number(o.version), size: Number(o.size), tombstone: o.tombstone }));
    if (json) io.out(JSON.stringify({ objects: rows, truncated: res.truncated }));
    else io.out(table(['guid', 'version', 'size', 'tombstone'], rows.map((r) => [r.guid, r.version, r.size, r.tombstone])));
  }
}

export class UsageError extends Error {}
