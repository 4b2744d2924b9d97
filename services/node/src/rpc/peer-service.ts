import { LIMITS } from '../constants';
import type { PeerServer } from '../gen/pastry/v1/peer';
import type { Logger } from '../logger';
import type { Overlay } from '../overlay/overlay';
import { callDeadline, unary } from './handler';

export interface PeerServiceDeps {
  overlay: Overlay;
  log: Logger;
  now(): number;
  rpcTimeoutMs: number;
}

/** The overlay's Peer service over gRPC: each method hands the request to the protocol. */
export function peerService(deps: PeerServiceDeps): PeerServer {
  const { overlay, log } = deps;
  const cap = deps.rpcTimeoutMs * LIMITS.maxRouteRetries;
  const deadline = (call: Parameters<typeof callDeadline>[0]): number => callDeadline(call, deps.now(), cap);
  return {
    join: unary(log, 'Peer.Join', (call) => overlay.handleJoin(call.request, deadline(call))),
    forward: unary(log, 'Peer.Forward', (call) => overlay.handleForward(call.request, deadline(call), call.metadata)),
    exchangeLeafSet: unary(log, 'Peer.ExchangeLeafSet', (call) => overlay.handleExchange(call.request)),
    getRoutingRow: unary(log, 'Peer.GetRoutingRow', (call) => overlay.handleGetRoutingRow(call.request)),
    announce: unary(log, 'Peer.Announce', (call) => overlay.handleAnnounce(call.request)),
    ping: unary(log, 'Peer.Ping', (call) => overlay.handlePing(call.request)),
    leave: unary(log, 'Peer.Leave', (call) => overlay.handleLeave(call.request)),
    direct: unary(log, 'Peer.Direct', (call) => overlay.handleDirect(call.request, deadline(call))),
  };
}
