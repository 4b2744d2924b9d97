import { LIMITS } from '../constants';
import type { PeerServer } from '../gen/pastry/v1/peer';
import type { Logger } from '../logger';
import type { Overlay } from '../overlay/overlay';
import type { RpcTelemetry } from '../telemetry/rpc-telemetry';
import { callDeadline, unary } from './handler';

export interface PeerServiceDeps {
  overlay: Overlay;
  log: Logger;
  telemetry: RpcTelemetry;
  now(): number;
  rpcTimeoutMs: number;
}

/** The overlay's Peer service over gRPC: each method hands the request to the protocol. */
export function peerService(deps: PeerServiceDeps): PeerServer {
  const { overlay } = deps;
  const ctx = { log: deps.log, telemetry: deps.telemetry };
  const cap = deps.rpcTimeoutMs * LIMITS.maxRouteRetries;
  const deadline = (call: Parameters<typeof callDeadline>[0]): number => callDeadline(call, deps.now(), cap);
  return {
    join: unary(ctx, 'Peer.Join', (call) => overlay.handleJoin(call.request, deadline(call))),
    forward: unary(ctx, 'Peer.Forward', (call) => overlay.handleForward(call.request, deadline(call), call.metadata)),
    exchangeLeafSet: unary(ctx, 'Peer.ExchangeLeafSet', (call) => overlay.handleExchange(call.request)),
    getRoutingRow: unary(ctx, 'Peer.GetRoutingRow', (call) => overlay.handleGetRoutingRow(call.request)),
    announce: unary(ctx, 'Peer.Announce', (call) => overlay.handleAnnounce(call.request)),
    ping: unary(ctx, 'Peer.Ping', (call) => overlay.handlePing(call.request)),
    leave: unary(ctx, 'Peer.Leave', (call) => overlay.handleLeave(call.request)),
    direct: unary(ctx, 'Peer.Direct', (call) => overlay.handleDirect(call.request, deadline(call))),
  };
}
