import { LIMITS } from '../constants';
import { InvalidArgumentError } from '../errors';
import type { PeerServer } from '../gen/pastry/v1/peer';
import type { Logger } from '../logger';
import type { Overlay } from '../overlay/overlay';
import { fromNodeInfo, keyFromBytes, toNodeInfo } from './codec';
import { callDeadline, unary } from './handler';

/** Node-to-node handlers. Everything a peer sends is validated before it touches state. */
export function peerService(deps: { overlay: Overlay; log: Logger; now(): number; rpcTimeoutMs: number }): PeerServer {
  const { overlay, log } = deps;
  const cap = deps.rpcTimeoutMs * LIMITS.maxRouteRetries;
  return {
    join: unary(log, 'Peer.Join', (call) => overlay.handleJoin(call.request, callDeadline(call, deps.now(), cap))),
    forward: unary(log, 'Peer.Forward', (call) => {
      keyFromBytes(call.request.key);
      call.request.hops.forEach((h, i) => fromNodeInfo(h, `hops[${i}]`));
      return overlay.route(call.request, callDeadline(call, deps.now(), cap), call.metadata);
    }),
    exchangeLeafSet: unary(log, 'Peer.ExchangeLeafSet', (call) => overlay.handleExchange(call.request)),
    getRoutingRow: unary(log, 'Peer.GetRoutingRow', (call) => {
      fromNodeInfo(call.request.sender, 'sender');
      if (call.request.index >= 32) throw new InvalidArgumentError(`row index must be below 32, got ${call.request.index}`);
      return { index: call.request.index, entries: overlay.state.table.row(call.request.index).map((e) => toNodeInfo(e.node)) };
    }),
    announce: unary(log, 'Peer.Announce', (call) => overlay.handleAnnounce(fromNodeInfo(call.request.sender, 'sender'))),
    ping: unary(log, 'Peer.Ping', (call) => {
      if (call.request.sender) fromNodeInfo(call.request.sender, 'sender');
      return { responder: toNodeInfo(overlay.self), ready: overlay.ready };
    }),
  };
}
