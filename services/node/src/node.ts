import { randomBytes } from 'node:crypto';
import { idFromBytes } from './core/id';
import type { NodeHandle } from './core/node-handle';
import type { NodeConfig } from './config';
import { Dht } from './dht/dht';
import { guidForName } from './dht/guid';
import { createLogger, type Logger } from './logger';
import { Overlay } from './overlay/overlay';
import { dhtService } from './rpc/dht-service';
import { PeerPool } from './rpc/peer-client';
import { peerService } from './rpc/peer-service';
import { RpcServer } from './rpc/server';
import { MemoryStore } from './store/memory-store';
import type { Store } from './store/store';

/** Node id: SHA-256 of the stable name (a restarted pod keeps its id), else random. */
export function nodeIdFor(name: string): string {
  return name ? guidForName(name) : idFromBytes(randomBytes(16));
}

/** Wires one node together: store, overlay, DHT, gRPC server. The only composition root. */
export class PastryNode {
  readonly self: NodeHandle;
  readonly log: Logger;
  readonly store: Store;
  readonly overlay: Overlay;
  readonly dht: Dht;
  readonly rpc: RpcServer;
  private readonly peers = new PeerPool();
  private started = false;
  boundPort = 0;

  constructor(readonly config: NodeConfig, store?: Store) {
    const clock = { now: () => Date.now() };
    this.self = { id: nodeIdFor(config.nodeName), address: config.advertiseAddress, name: config.nodeName };
    this.log = createLogger({ node: this.self.id, name: config.nodeName }, config.logLevel);
    this.store = store ?? new MemoryStore();
    this.overlay = new Overlay(this.self, this.peers, config, clock, this.log);
    this.dht = new Dht(this.overlay, this.store, config, clock);
    this.rpc = new RpcServer(
      dhtService({ dht: this.dht, overlay: this.overlay, store: this.store, log: this.log, now: clock.now }),
      peerService({ overlay: this.overlay, log: this.log, now: clock.now, rpcTimeoutMs: config.rpcTimeoutMs }),
    );
  }

  /** Serves, then joins the ring; readiness turns on once joined. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.store.start();
    this.boundPort = await this.rpc.bind(this.config.host, this.config.port);
    this.log.info('listening', { address: this.self.address, port: this.boundPort, store: this.store.kind });
    await this.overlay.start();
    this.rpc.setReady(this.overlay.ready);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.rpc.setReady(false);
    this.overlay.stop();
    await this.rpc.stop(Math.min(this.config.shutdownGraceMs, 5000));
    this.peers.close();
    await this.store.stop();
    this.log.info('stopped');
  }
}
