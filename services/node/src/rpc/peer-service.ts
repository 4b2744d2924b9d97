import type { ServerUnaryCall } from '@grpc/grpc-js';
import { LIMITS } from '../constants';
import type { PeerServer } from '../gen/pastry/v1/peer';
import type { Logger } from '../logger';
import type { Overlay } from '../overlay/overlay';
import type { RpcTelemetry } from '../telemetry/rpc-telemetry';
import { callDeadline, checkTarget, unary } from './handler';

export interface PeerServiceDeps {
  overlay: Overlay;
  log: Logger;
  telemetry: RpcTelemetry;
  now(): number;
  rpcTimeoutMs: number;
  /** This node's id: a call meant for another one is answered WRONG_NODE (see checkTarget). */
  selfId: string;
}

/** The overlay's Peer service over gRPC: each method hands the request to the protocol. */
export function peerService(deps: PeerServiceDeps): PeerServer {
  const { overlay } = deps;
  const ctx = { log: deps.log, telemetry: deps.telemetry };
  const cap = deps.rpcTimeoutMs * LIMITS.maxRouteRetries;
  const deadline = (call: Parameters<typeof callDeadline>[0]): number => callDeadline(call, deps.now(), cap);
  const peer = <Req, Res>(method: string, fn: (call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res) =>
    unary<Req, Res>(ctx, method, (call) => {
      checkTarget(call as ServerUnaryCall<unknown, unknown>, deps.selfId);
      return fn(call);
    });
  return {
    join: peer('Peer.Join', (call) => overlay.handleJoin(call.request, deadline(call))),
    forward: peer('Peer.Forward', (call) => overlay.handleForward(call.request, deadline(call), call.metadata)),
    exchangeLeafSet: peer('Peer.ExchangeLeafSet', (call) => overlay.handleExchange(call.request)),
    getRoutingRow: peer('Peer.GetRoutingRow', (call) => overlay.handleGetRoutingRow(call.request)),
    announce: peer('Peer.Announce', (call) => overlay.handleAnnounce(call.request)),
    ping: peer('Peer.Ping', (call) => overlay.handlePing(call.request)),
    leave: peer('Peer.Leave', (call) => overlay.handleLeave(call.request)),
    direct: peer('Peer.Direct', (call) => overlay.handleDirect(call.request, deadline(call))),
  };
}
