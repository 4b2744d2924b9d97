import type { Id } from './id';

/** What the core knows of a member: its id and how to reach it (opaque to the core). */
export interface NodeHandle {
  readonly id: Id;
  /** host:port for the gRPC node, an index for the simulator. */
  readonly address: string;
  /** Stable name (the pod name), or '' when the node has none. */
  readonly name: string;
}

/** Proximity metric: measured round-trip time in ms; Infinity when not measured. */
export const UNKNOWN_PROXIMITY = Number.POSITIVE_INFINITY;
