/**
 * One js-libp2p Kademlia DHT node (the peer we compare with), as its own process, driven by
 * bench/run.mjs over the fork() IPC channel. TCP on 127.0.0.1, Noise, Yamux, identify, ping and
 * @libp2p/kad-dht in server mode with a `/pastry/` record namespace that accepts any value.
 *
 * Messages from the parent:
 *   {type:'start', bootstrap?: multiaddr}  → {type:'listening', addr, peerId}
 *   {type:'op', id, op:'put'|'get', key, size} → {type:'done', id, ok, error?, rpcs}
 *   {type:'status', id}                    → {type:'done', id, ok, routingTable, connections}
 *   {type:'stop'}                          → exits
 *
 * js-libp2p is ESM-only and, on Node 20, needs Promise.withResolvers (Node ≥ 22 has it): the
 * polyfill is installed before libp2p is imported, hence the dynamic imports.
 */
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const [{ createLibp2p }, { tcp }, { noise }, { yamux }, { identify }, { ping }, { kadDHT, passthroughMapper }, { multiaddr }] = await Promise.all([
  import('libp2p'),
  import('@libp2p/tcp'),
  import('@chainsafe/libp2p-noise'),
  import('@chainsafe/libp2p-yamux'),
  import('@libp2p/identify'),
  import('@libp2p/ping'),
  import('@libp2p/kad-dht'),
  // A dependency of libp2p (one deduplicated version in the tree), not of this repository.
  import('@multiformats/multiaddr'),
]);

const OP_TIMEOUT_MS = 15_000;
const JOIN_ATTEMPTS = 10;
const JOIN_WAIT_MS = 5_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const encoder = new TextEncoder();
let node;

function send(message) {
  if (process.connected) process.send(message);
}

async function start(bootstrap) {
  node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Every peer shares one address: lift the per-host inbound rate limits meant for the internet.
    connectionManager: { inboundConnectionThreshold: 1_000, maxIncomingPendingConnections: 1_000, maxConnections: 1_000 },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: '/pastry-bench/kad/1.0.0',
        clientMode: false,
        // The default mapper drops private addresses, and loopback is private.
        peerInfoMapper: passthroughMapper,
        validators: { pastry: async () => {} },
        selectors: { pastry: () => 0 },
      }),
    },
  });
  await node.start();
  if (bootstrap) await join(multiaddr(bootstrap));
  const addr = node.getMultiaddrs().find((a) => a.toString().includes('/tcp/'));
  send({ type: 'listening', addr: addr.toString(), peerId: node.peerId.toString() });
}

/**
 * Dials the bootstrap node until it is in the routing table. On a loaded machine the Noise
 * handshake or identify can time out, and a node with an empty routing table never runs its
 * self-query; a real node's bootstrap retries too (ours retries its join with backoff).
 */
async function join(bootstrap) {
  for (let attempt = 1; ; attempt++) {
    try {
      await node.dial(bootstrap, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) });
      const deadline = Date.now() + JOIN_WAIT_MS;
      while (node.services.dht.routingTable.size === 0 && Date.now() < deadline) await sleep(100);
      if (node.services.dht.routingTable.size > 0) return;
      await node.hangUp(bootstrap).catch(() => {});
      throw new Error(`routing table still empty ${JOIN_WAIT_MS} ms after dialling ${bootstrap}`);
    } catch (error) {
      process.stderr.write(`join attempt ${attempt} failed: ${error.message}\n`);
      if (attempt >= JOIN_ATTEMPTS) throw error;
      await sleep(250 * attempt);
    }
  }
}

/** Runs one DHT operation to completion; counts the peers that answered (the lookup's RPCs). */
async function op(message) {
  const key = encoder.encode(`/pastry/${message.key}`);
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS);
  let rpcs = 0;
  let found = false;
  if (message.op === 'put') {
    const value = new Uint8Array(message.size).fill(message.key.length & 0xff);
    for await (const event of node.services.dht.put(key, value, { signal })) if (event.name === 'PEER_RESPONSE') rpcs++;
    return { rpcs };
  }
  for await (const event of node.services.dht.get(key, { signal })) {
    if (event.name === 'PEER_RESPONSE') rpcs++;
    if (event.name === 'VALUE') found = true;
  }
  if (!found) throw new Error(`not found: ${message.key}`);
  return { rpcs };
}

process.on('message', (message) => {
  if (message.type === 'start') {
    start(message.bootstrap).catch((error) => {
      send({ type: 'error', error: String(error?.stack ?? error) });
      process.exit(1);
    });
  } else if (message.type === 'op') {
    op(message).then(
      (result) => send({ type: 'done', id: message.id, ok: true, ...result }),
      (error) => send({ type: 'done', id: message.id, ok: false, error: String(error?.message ?? error) }),
    );
  } else if (message.type === 'status') {
    send({ type: 'done', id: message.id, ok: true, routingTable: node?.services.dht.routingTable.size ?? 0, connections: node?.getConnections().length ?? 0 });
  } else if (message.type === 'stop') {
    const exit = () => process.exit(0);
    setTimeout(exit, 2_000).unref();
    (node ? node.stop() : Promise.resolve()).then(exit, exit);
  }
});

// The parent going away (also on its crash) ends this node.
process.on('disconnect', () => process.exit(0));
