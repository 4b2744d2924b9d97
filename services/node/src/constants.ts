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

/** Overlay protocol timing and bounds (see overlay/). */
export const OVERLAY = {
  /** Floor of an adaptive timeout: scheduling noise on a busy host exceeds loopback RTTs. */
  minProbeTimeoutMs: 250,
  /** The first maintenance round after a join; the gaps double from there to the interval. */
  firstRoundMs: 100,
  /** Every this many maintenance rounds one routing-table row is refreshed. */
  tableRefreshRounds: 20,
  /**
   * Every this many rounds each routing-table entry is pinged: routing finds a dead entry
   * only when it uses it, so rarely used slots would otherwise keep dead nodes for ever.
   */
  tableCheckRounds: 600,
  /** Nodes of the same row asked for a replacement when a table entry dies. */
  tableRepairAsks: 2,
  /**
   * A row refresh pings at most this many of the fetched nodes whose RTT is unknown, to learn
   * whether they are nearer than the entries they could replace (the table grows more local;
   * `pastry sim replicas` shows the effect). Nodes with a known RTT are compared for free.
   */
  tableImproveProbes: 8,
  /** A suspected peer is probed this many times, this far apart (growing), before it is declared dead. */
  suspectProbes: 3,
  suspectProbeGapMs: 200,
  /** Hop-by-hop deadline margin: an inner hop must time out before the outer call does. */
  hopMarginMs: 100,
  /** A short ping that tells a dead hop from a slow path further on. */
  aliveCheckMs: 500,
  /** Hearsay nodes probed at once before they may take a leaf-set place. */
  maxAdmissionProbes: 32,
  /** A hearsay node that did not answer its admission probe is not probed again for this long. */
  admissionRetryMs: 10_000,
  maxRememberedSilent: 1024,
  /** Recently dead nodes remembered for partition heal (FreePastry keeps 20). */
  maxRememberedDead: 64,
  /** How long a dead node stays a partition-heal candidate. */
  deadMemoryMs: 15 * 60_000,
  /** Default period of partition-heal probes. */
  partitionProbeIntervalMs: 2_000,
  /** A node used to merge is not used again for this long: a merge happens once, then leaf-set exchange spreads it. */
  partitionQuietMs: 60_000,
  /** A seed this node does not know is joined through at most this often. */
  seedQuietMs: 10 * 60_000,
  /** Nodes probed per partition-heal round. */
  partitionProbesPerRound: 2,
} as const;

/** Replication and anti-entropy bounds. */
export const REPLICATION = {
  /** Objects in one StoreReplicas or FetchReplicas message. */
  maxObjectsPerMessage: 256,
  /**
   * Objects of one StoreReplicas message a node writes at once: the whole message, so that
   * its store round trips go out together (Redis takes them as one pipeline).
   */
  applyWindow: 256,
  /** StoreReplicas messages in flight to one node during a handoff. */
  pushesPerTarget: 3,
  /** Bytes of values in one StoreReplicas message (well under the gRPC cap). */
  maxBytesPerMessage: 4 * 1024 * 1024,
  /** Digest buckets; objects are bucketed by a hash of their GUID. */
  digestBuckets: 64,
  /** Metadata entries in one SyncDigest answer. */
  maxDigestEntries: 4096,
  /** Objects read from the store at a time by anti-entropy, handoff and graceful leave. */
  scanPageObjects: 10_000,
  /** Objects a node reads to answer one SyncDigest: a page, with room for a denser range here. */
  maxDigestScanObjects: 40_000,
  /**
   * Value bytes a push (repair, handoff, leave) reads from the store before it sends them: a
   * page of 1 MiB values must not be held in memory all at once.
   */
  pushWindowBytes: 32 * 1024 * 1024,
  /** Objects a push reads ahead at most, whatever their size (4 StoreReplicas messages). */
  pushWindowObjects: 1024,
  /**
   * Objects, and value bytes, pushed or pulled per peer per anti-entropy round. Values move
   * in bounded windows whatever these are, so they bound a round's length, not its memory.
   */
  maxRepairsPerPeerPerRound: 4096,
  maxRepairBytesPerPeerPerRound: 64 * 1024 * 1024,
  /** Pause before the next anti-entropy round while the last one left work over its budgets. */
  backlogPauseMs: 100,
  /** Objects handed off per anti-entropy round. */
  maxHandoffPerRound: 4096,
  /**
   * A node that hands its objects over before it leaves counts as gone this much past the
   * time it gave (its process exits within a second or two of that), and at most this long.
   */
  leavingMarginMs: 5_000,
  maxLeavingMs: 60 * 60_000,
  /** Entries one ListObjects answer carries at most. */
  maxListObjects: 10_000,
  /** Ranges in one SyncTree message. */
  maxTreeRanges: 256,
  /**
   * A differing range holding at most this many objects (on either side) is compared entry
   * by entry with SyncDigest rather than split further.
   */
  entrySyncObjects: 2048,
  /** Peers synchronised at once in a round. */
  syncFanout: 8,
} as const;

/** PAST's replica diversion: a full replica keeps a pointer, a leaf-set neighbour the copy. */
export const DIVERSION = {
  /** Leaf-set members, least utilised first (PAST), asked to hold a diverted copy before a write is refused. */
  candidates: 8,
  /**
   * A neighbour's utilisation is taken as known for this long after it was heard (a tree
   * comparison, a diverted write, or an ask just before diverting); older, it is asked again.
   */
  utilizationTtlMs: 10_000,
  /** A node takes diverted copies only while they leave it at most this full, keeping room for its own. */
  maxUtilization: 0.9,
  /** A full node takes its copies back from their holders once it is this full or less. */
  reclaimUtilization: 0.8,
  /** Pointers checked per anti-entropy round (that their holder still has the copy). */
  pointersPerRound: 256,
  /** A copy a full replica pointed at (or refused) is offered to it again after this long. */
  recheckMs: 60_000,
  /** Such copies remembered at most; past it they are offered every round. */
  maxParked: 100_000,
} as const;

/** PAST's file diversion: a put whose whole neighbourhood is full goes to a salted GUID. */
export const FILE_DIVERSION = {
  /** Salted GUIDs tried, each rooted elsewhere on the ring, before the put is refused. */
  attempts: 3,
  /** Salts looked at for those: salted GUIDs rooted in the root's own (full) leaf set are skipped. */
  maxSalts: 64,
  /** Diverted files a node, as their root, checks per anti-entropy round for a redirect that still names them. */
  checksPerRound: 16,
  /**
   * A diverted file younger than this is not checked: its put may not have written the
   * redirect yet. Far above a put's deadline, and above clock skew between nodes.
   */
  orphanGraceMs: 120_000,
  /** The root of an original answers a check only when its leaf set has not changed for this long. */
  stableLeafSetMs: 60_000,
} as const;

/** Pastry's nearest-replica reads on the nodes. */
export const NEAREST_READS = {
  /**
   * A read whose next hop is already a replica moves to another replica only when that one
   * is nearer by this many ms and by `minGainShare` of the next hop's RTT: a gain within
   * measurement noise (a flat network, a loopback ring) is not worth leaving the root,
   * whose copy is the freshest.
   */
  minGainMs: 0.5,
  minGainShare: 0.25,
} as const;

export const CACHE = {
  /** Leases one replica holds on record at most; past it, reads are answered without one. */
  maxLeases: 100_000,
  /** Nodes that may cache one object under this replica's leases at once. */
  maxHoldersPerObject: 256,
} as const;

/** Trailer on every error a gRPC handler answers with: the node is alive and refused, so the caller must not take it for a dead peer. */
export const REFUSAL_TRAILER = 'pastry-refusal';
/**
 * Metadata of every peer call: the id of the node it is meant for. A peer's address is a
 * DNS name, and on Kubernetes a restarted pod gets a new IP while its old one may go to
 * another pod, so a channel can reach the wrong node; that node answers WRONG_NODE_TRAILER.
 */
export const TARGET_METADATA = 'pastry-to';
/** Trailer of the answer to a call meant for another node: the caller re-resolves the address. */
export const WRONG_NODE_TRAILER = 'pastry-wrong-node';

/** File sharing: chunking, windows and the swarm's soft state (see files/). */
export const FILES = {
  /** Default chunk size (IPFS's 256 KiB blocks); uploads may pick a power of two in the bounds. */
  defaultChunkBytes: 256 * 1024,
  minChunkBytes: 16 * 1024,
  /** Bitswap's block cap; also under the DHT's default value limit. */
  maxChunkBytes: 1024 * 1024,
  /** Chunk hashes a manifest holds itself; past it they go to pages of this many. */
  hashesPerPage: 16_384,
  /** Chunks an upload has in flight at once: its memory is about this many chunks. */
  uploadWindow: 8,
  /** Chunks a download fetches ahead, in parallel: its memory is about this many chunks. */
  downloadWindow: 8,
  /** Sources tried for one chunk (providers, then replicas, then a routed read) before it fails. */
  maxSourcesPerChunk: 8,
  /** Providers tried for a chunk before its replicas. */
  providersTried: 2,
  /** Providers a root returns per lookup, and keeps per chunk. */
  providersReturned: 8,
  maxProvidersPerChunk: 32,
  /** Chunks a root keeps provider records for; the oldest go first. */
  maxProviderChunks: 65_536,
  /** A provider record lasts this long (the cache behind it may be evicted sooner). */
  providerTtlMs: 10 * 60_000,
  /** A node asked for a chunk it is fetching itself waits this long for it. */
  providerWaitMs: 2_000,
  /** Chunk removals and repairs at once. */
  removeFanout: 16,
  repairFanout: 4,
  /** Chunks one Stat call describes at most. */
  maxStatChunks: 65_536,
  /** Bytes of fetched chunks a node keeps to serve other downloaders (PASTRY_FILE_CACHE_BYTES). */
  defaultCacheBytes: 64 * 1024 * 1024,
  /** One chunk's store or fetch may take this long (or 5 peer-call deadlines, if longer). */
  minChunkTimeoutMs: 15_000,
  /** Attempts of a chunk put before the upload fails. */
  putAttempts: 3,
} as const;

/** Messaging (Scribe): tree limits, the retained window and repair timing (see scribe/). */
export const SCRIBE = {
  maxTopicBytes: 256,
  maxPayloadBytes: 64 * 1024,
  maxPublisherBytes: 128,
  /** Children a tree node takes before it hands newcomers to a child (FreePastry/SplitStream: 24). */
  defaultMaxChildren: 24,
  /** Messages a topic keeps in the DHT for subscribers that catch up (PASTRY_SCRIBE_RETAIN). */
  defaultRetain: 1000,
  /** A child tells its parent it is there this often; a parent drops a child silent for 3 periods. */
  defaultRefreshMs: 2_000,
  refreshesBeforeExpiry: 3,
  /** Topics a node takes part in at most (as subscriber, forwarder or root). */
  maxTopics: 10_000,
  /** Publishes the root numbers and stores at once, per topic (group commit). */
  publishBatch: 64,
  /** Messages queued for one child before it is dropped (it catches up from the DHT). */
  maxChildQueue: 4_096,
  /** Messages sent to one child in one call. */
  maxDeliverBatch: 256,
  /** Out-of-order messages a subscription holds while it fills a gap. */
  maxBuffered: 10_000,
  /** A gap is filled from the DHT when the missing messages have not arrived by then. */
  gapWaitMs: 300,
  /** Retained messages fetched at once while a subscriber catches up. */
  fetchWindow: 16,
  /** Attempts at a missing retained message before it is reported lost. */
  fetchAttempts: 4,
  /** Events a subscriber's stream holds before the slow subscriber is cut off. */
  maxSubscriberBacklog: 20_000,
  /** A tree deeper than this is a cycle (a push-down under churn): the node joins again. */
  maxDepth: 48,
  /** Sequences a new root probes past the stored head (one publish batch may be past it), a fetch window at a time. */
  headProbe: 64,
  /** A root with no subscriber forgets a topic this long after its last publish. */
  idleRootMs: 60_000,
  /** Nodes nearest a topic that a new root fences before it numbers (the old root is among them). */
  claimFanout: 4,
  /** A node that yielded a topic's root hands its messages to the closer root this long. */
  rootHintMs: 30_000,
  /** Subtrees an anycast searches at one node before it moves on towards the root. */
  anycastFanout: 8,
} as const;

/** Distributed computing: work units in the sandbox, jobs coordinated by their entry node. */
export const COMPUTE = {
  /** Bytes a unit may write. */
  maxOutputBytes: 1024 * 1024,
  /** Bytes of all of a job's outputs, which its entry node holds until the reduce. */
  maxJobOutputBytes: 256 * 1024 * 1024,
  /** Units a job runs at most (a file of 4 TiB in 1 MiB chunks). */
  maxUnits: 4 * 1024 * 1024,
  /** Units of one job in flight at once (the nodes' queues take the rest of the back-pressure). */
  unitsInFlight: 64,
  /** Runs of one unit before it counts as failed. */
  maxAttempts: 5,
  /** Pause before a unit's next run, times the attempt number. */
  retryPauseMs: 250,
  /** Pause before a unit refused by a full queue is sent again, times the refusals (up to 10). */
  busyPauseMs: 20,
  /** A unit's route waits this many times its time limit (queueing, then running). */
  deadlineFactor: 4,
  /** Replicas a unit may run on at most (redundancy). */
  maxRedundancy: 5,
  /** Compiled modules a node keeps. */
  modulesKept: 32,
  /** Finished jobs a node keeps for Status. */
  jobsKept: 64,
  /** Unit failures a job's status lists at most. */
  failuresKept: 100,
  /** Least time between two progress reports of a job. */
  progressMs: 200,
  /** Unit durations kept between two scrapes. */
  durationsKept: 10_000,
} as const;
