import { idToBytes } from '../core/id';
import type { Dht } from '../dht/dht';
import type { DhtServer, StatusResponse } from '../gen/pastry/v1/dht';
import type { Logger } from '../logger';
import type { Overlay } from '../overlay/overlay';
import type { Store } from '../store/store';
import type { RpcTelemetry } from '../telemetry/rpc-telemetry';
import { toNodeInfo } from './codec';
import { callDeadline, unary } from './handler';

/** Client requests wait at most this long when the client set no deadline. */
const DEFAULT_REQUEST_DEADLINE_MS = 30_000;

export function dhtService(deps: { dht: Dht; overlay: Overlay; store: Store; log: Logger; telemetry: RpcTelemetry; now(): number }): DhtServer {
  const { dht, overlay } = deps;
  const ctx = { log: deps.log, telemetry: deps.telemetry };
  const deadline = (call: Parameters<typeof callDeadline>[0]): number => callDeadline(call, deps.now(), DEFAULT_REQUEST_DEADLINE_MS);
  return {
    put: unary(ctx, 'Put', async (call) => {
      const { guid, response } = await dht.put(call.request.name, call.request.value, deadline(call), call.metadata);
      return { guid: idToBytes(guid), root: response.root, hops: response.hops, replicasAcknowledged: response.acknowledged, version: response.version };
    }),
    get: unary(ctx, 'Get', async (call) => {
      const { guid, response } = await dht.get(call.request.key, deadline(call), call.metadata);
      return { guid: idToBytes(guid), value: response.value, root: response.root, hops: response.hops, version: response.version };
    }),
    remove: unary(ctx, 'Remove', async (call) => {
      const { guid, response } = await dht.remove(call.request.key, deadline(call), call.metadata);
      return { guid: idToBytes(guid), removed: response.found, root: response.root, hops: response.hops, replicasAcknowledged: response.acknowledged };
    }),
    route: unary(ctx, 'Route', async (call) => {
      const { guid, response } = await dht.route(call.request.key, deadline(call), call.metadata);
      return { key: idToBytes(guid), root: response.root, hops: response.hops };
    }),
    status: unary(ctx, 'Status', async (): Promise<StatusResponse> => {
      const s = overlay.state;
      return {
        self: toNodeInfo(overlay.self),
        ready: overlay.ready && deps.store.healthy(),
        leafSetLeft: s.leafSet.leftSide().map(toNodeInfo),
        leafSetRight: s.leafSet.rightSide().map(toNodeInfo),
        routingTable: {
          rowsFilled: s.table.rowsFilled(),
          entries: s.table.size,
          slots: s.table.entries().map(({ row, column, entry }) => ({
            row,
            column,
            node: toNodeInfo(entry.node),
            rttMs: Number.isFinite(entry.proximity) ? entry.proximity : 0,
          })),
        },
        neighborhoodSet: s.neighborhood.nodes().map(toNodeInfo),
        estimatedRingSize: s.estimateRingSize(),
        objectsStored: await deps.store.count(),
        liveObjects: deps.store.usage().objects,
        liveBytes: deps.store.usage().bytes,
      };
    }),
  };
}
