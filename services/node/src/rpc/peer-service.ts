import { LIMITS, REPLICATION } from '../constants';
import type { AntiEntropy } from '../dht/anti-entropy';
import { fromRecord, toMeta, toRecord } from '../dht/records';
import type { ReplicaStore } from '../dht/replica-store';
import { InvalidArgumentError } from '../errors';
import type { ObjectMeta, PeerServer } from '../gen/pastry/v1/peer';
import type { Logger } from '../logger';
import type { Overlay } from '../overlay/overlay';
import type { RpcTelemetry } from '../telemetry/rpc-telemetry';
import { fromNodeInfo, keyFromBytes, toNodeInfo } from './codec';
import { callDeadline, unary } from './handler';

/** ListObjects answers at most this many entries. */
const LIST_LIMIT = 10_000;

/** Node-to-node handlers. Everything a peer sends is validated before it touches state. */
export interface PeerServiceDeps {
  overlay: Overlay;
  local: ReplicaStore;
  antiEntropy: AntiEntropy;
  log: Logger;
  telemetry: RpcTelemetry;
  now(): number;
  rpcTimeoutMs: number;
  maxValueBytes: number;
}

export function peerService(deps: PeerServiceDeps): PeerServer {
  const { overlay } = deps;
  const ctx = { log: deps.log, telemetry: deps.telemetry };
  const cap = deps.rpcTimeoutMs * LIMITS.maxRouteRetries;
  return {
    join: unary(ctx, 'Peer.Join', (call) => overlay.handleJoin(call.request, callDeadline(call, deps.now(), cap))),
    forward: unary(ctx, 'Peer.Forward', (call) => {
      keyFromBytes(call.request.key);
      call.request.hops.forEach((h, i) => fromNodeInfo(h, `hops[${i}]`));
      return overlay.route(call.request, callDeadline(call, deps.now(), cap), call.metadata);
    }),
    exchangeLeafSet: unary(ctx, 'Peer.ExchangeLeafSet', (call) => overlay.handleExchange(call.request)),
    getRoutingRow: unary(ctx, 'Peer.GetRoutingRow', (call) => {
      fromNodeInfo(call.request.sender, 'sender');
      if (call.request.index >= 32) throw new InvalidArgumentError(`row index must be below 32, got ${call.request.index}`);
      return { index: call.request.index, entries: overlay.state.table.row(call.request.index).map((e) => toNodeInfo(e.node)) };
    }),
    announce: unary(ctx, 'Peer.Announce', (call) => overlay.handleAnnounce(fromNodeInfo(call.request.sender, 'sender'))),
    ping: unary(ctx, 'Peer.Ping', (call) => {
      if (call.request.sender) fromNodeInfo(call.request.sender, 'sender');
      return { responder: toNodeInfo(overlay.self), ready: overlay.ready };
    }),
    storeReplicas: unary(ctx, 'Peer.StoreReplicas', async (call) => {
      if (call.request.objects.length > REPLICATION.maxObjectsPerMessage) throw new InvalidArgumentError(`at most ${REPLICATION.maxObjectsPerMessage} objects per message`);
      const objects = call.request.objects.map((r) => fromRecord(r, deps.maxValueBytes));
      let applied = 0;
      let stale = 0;
      let replacedLive = 0;
      const newer: ObjectMeta[] = [];
      for (const o of objects) {
        const { result, previous } = await deps.local.apply(o);
        if (result === 'applied') applied++;
        else stale++;
        if (result === 'applied' && previous && !previous.tombstone) replacedLive++;
        if (result === 'newer') newer.push(toMeta(previous!));
      }
      return { applied, stale, replacedLive, newer };
    }),
    fetchReplicas: unary(ctx, 'Peer.FetchReplicas', async (call) => {
      if (call.request.guids.length > REPLICATION.maxObjectsPerMessage) throw new InvalidArgumentError(`at most ${REPLICATION.maxObjectsPerMessage} GUIDs per message`);
      const guids = call.request.guids.map((g, i) => keyFromBytes(g, `guids[${i}]`));
      const found = await Promise.all(guids.map((g) => deps.local.read(g)));
      return { objects: found.map((f) => f.object).filter((o) => o !== undefined).map(toRecord) };
    }),
    syncDigest: unary(ctx, 'Peer.SyncDigest', (call) => {
      if (call.request.buckets.length > REPLICATION.digestBuckets) throw new InvalidArgumentError(`at most ${REPLICATION.digestBuckets} buckets`);
      return deps.antiEntropy.handleSyncDigest(call.request);
    }),
    listObjects: unary(ctx, 'Peer.ListObjects', async (call) => {
      const { from, to, includeTombstones } = call.request;
      const limit = Math.min(call.request.limit || LIST_LIMIT, LIST_LIMIT);
      const lo = from.length === 0 ? '0'.repeat(32) : keyFromBytes(from, 'from');
      const hi = to.length === 0 ? 'f'.repeat(32) : keyFromBytes(to, 'to');
      const objects = await deps.local.store.range(lo, hi, limit + 1, { values: false });
      const visible = objects.filter((o) => includeTombstones || !o.tombstone);
      return { objects: visible.slice(0, limit).map(toMeta), truncated: objects.length > limit };
    }),
    leave: unary(ctx, 'Peer.Leave', (call) => {
      overlay.peerLeft(fromNodeInfo(call.request.sender, 'sender'));
      return {};
    }),
  };
}
