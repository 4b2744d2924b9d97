/** Every limit, queue bound, retry count and fan-out in one place. */
export const LIMITS = {
  /** Most alternatives tried when next hops fail, per routing step. */
  maxRouteRetries: 8,
  /** A message that has visited this many nodes is dropped: a loop or a broken ring. */
  maxHops: 64,
  /** gRPC message size cap, both directions; values are capped separately. */
  maxGrpcMessageBytes: 8 * 1024 * 1024,
  /** Longest name accepted for a named object. */
  maxNameBytes: 1024,
  /** Join attempts back off exponentially up to this. */
  joinBackoffMaxMs: 5_000,
  joinBackoffInitialMs: 200,
  /** Nodes a joiner announces itself to at most. */
  maxAnnounceFanout: 128,
  /** Peers contacted at once during maintenance. */
  maintenanceFanout: 32,
  /** Nodes the `ring` walk visits at most. */
  maxRingWalk: 4096,
  /** Hop entries and leaf-set entries accepted from a peer. */
  maxNodesInMessage: 1024,
} as const;

/** Replication and anti-entropy bounds. */
export const REPLICATION = {
  /** Objects in one StoreReplicas or FetchReplicas message. */
  maxObjectsPerMessage: 256,
  /** Bytes of values in one StoreReplicas message (well under the gRPC cap). */
  maxBytesPerMessage: 4 * 1024 * 1024,
  /** Digest buckets; objects are bucketed by a hash of their GUID. */
  digestBuckets: 64,
  /** Metadata entries in one SyncDigest answer. */
  maxDigestEntries: 4096,
  /** Objects one node scans per anti-entropy round. */
  maxScanObjects: 200_000,
  /** Objects pushed or pulled per peer per anti-entropy round. */
  maxRepairsPerPeerPerRound: 1024,
  /** Objects handed off per anti-entropy round. */
  maxHandoffPerRound: 4096,
  /** Peers synchronised at once in a round. */
  syncFanout: 8,
} as const;
