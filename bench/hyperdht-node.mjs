/**
 * One Hyperswarm DHT node (`hyperdht`, on `dht-rpc`: Kademlia over UDP), the second peer we
 * compare with, as its own process, driven by bench/run.mjs over the fork() IPC channel with the
 * protocol of bench/kad-dht-node.mjs:
 *
 *   {type:'start', bootstrap?: 'host:port'}     → {type:'listening', addr: 'host:port', peerId}
 *   {type:'op', id, op:'put'|'get', key, size}  → {type:'done', id, ok, error?, rpcs}
 *   {type:'status', id}                         → {type:'done', id, ok, routingTable, connections}
 *   {type:'stop'}                               → exits
 *
 * Loopback only: both UDP sockets bind 127.0.0.1 and the only bootstrap node is node 0 (never
 * hyperdht's public default bootstrap nodes), so no packet can leave the machine. Node 0 (no
 * `bootstrap`) is a `DHT.bootstrapper`; the others are persistent, unfirewalled nodes
 * (`ephemeral: false, firewalled: false`, as in hyperdht's own testnet.js) so that they enter
 * each other's routing tables on loopback and store records.
 *
 * Records are hyperdht's IMMUTABLE records: the DHT key is BLAKE2b-256 of the value, stored by
 * the k = 20 nodes closest to it, with no signature (the nearest thing to kad-dht's accept-all
 * records; mutable records would add an Ed25519 signature per put and a verification per get).
 * The bench's key → value mapping is made content-addressed by deriving the value from the key:
 * `recordValue(key, size)` is `size` bytes starting with the UTF-8 key (truncated if longer) and
 * padded with 'a'. Any node can so compute the hash of a key's record, which is why a get needs
 * `size` too (the cluster driver sends the size of the put). A get succeeds only when a node
 * returns exactly those bytes.
 *
 * `rpcs`: the peers that answered the op's lookup (dht-rpc's Query.successes), plus, for a put,
 * the store (commit) requests that the closest nodes acknowledged; for a get, the peers that
 * had answered when the first one returned the value. The same sense as kad-dht's count of
 * PEER_RESPONSE events.
 */
import dgram from 'node:dgram';
import DHT from 'hyperdht';

const HOST = '127.0.0.1';
const OP_TIMEOUT_MS = 15_000;
const JOIN_ATTEMPTS = 10;
const JOIN_WAIT_MS = 5_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let dht;

/**
 * hyperdht with one hook: an op given `{counter}` in its options records its dht-rpc Query and
 * counts its acknowledged commits. hyperdht passes the options of immutablePut/immutableGet
 * through to query(), so nothing else of the library is touched.
 */
class BenchDHT extends DHT {
  query(q, opts = {}) {
    const { counter } = opts;
    if (counter && opts.commit) {
      const commit = opts.commit;
      opts = {
        ...opts,
        commit: async (...args) => {
          const reply = await commit(...args);
          counter.commits++;
          return reply;
        },
      };
    }
    const query = super.query(q, opts);
    if (counter) counter.query = query;
    return query;
  }
}

function send(message) {
  if (process.connected) process.send(message);
}

/** A UDP port on 127.0.0.1 that was free a moment ago (hyperdht's default is the public 49737). */
function freePort() {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

function create(bootstrap) {
  return freePort().then((port) =>
    bootstrap
      ? new BenchDHT({ host: HOST, port, bootstrap: [bootstrap], ephemeral: false, firewalled: false })
      : // bootstrap: [] and anyPort: false; the node knows its address from the arguments.
        BenchDHT.bootstrapper(port, HOST, { host: HOST }),
  );
}

async function start(bootstrap) {
  const entry = bootstrap ? { host: bootstrap.split(':')[0], port: Number(bootstrap.split(':')[1]) } : null;
  await join(entry);
  send({ type: 'listening', addr: `${HOST}:${dht.address().port}`, peerId: dht.id.toString('hex') });
}

/**
 * Starts the node until it is persistent (has its id: it answers and stores records) and, unless
 * it is the bootstrap node, holds a peer in its routing table. On a loaded machine the bootstrap
 * query can time out and leave the node alone; start again then, as kad-dht-node.mjs re-dials.
 */
async function join(entry) {
  for (let attempt = 1; ; attempt++) {
    try {
      dht = await create(entry);
      await dht.fullyBootstrapped();
      const deadline = Date.now() + JOIN_WAIT_MS;
      const joined = () => !dht.ephemeral && (!entry || dht.table.size > 0);
      while (!joined() && Date.now() < deadline) await sleep(100);
      if (joined()) return;
      throw new Error(`not joined ${JOIN_WAIT_MS} ms after bootstrapping (ephemeral ${dht.ephemeral}, routing table ${dht.table.size})`);
    } catch (error) {
      process.stderr.write(`join attempt ${attempt} failed: ${error.message}\n`);
      await dht?.destroy().catch(() => {});
      dht = undefined;
      if (attempt >= JOIN_ATTEMPTS) throw error;
      await sleep(250 * attempt);
    }
  }
}

/** The value stored under `key`: see the header. */
function recordValue(key, size) {
  if (!(size > 0)) throw new Error(`hyperdht records need a size > 0 (got ${size}) for ${key}`);
  const value = Buffer.alloc(size, 0x61);
  value.write(key, 0, 'utf8');
  return value;
}

/** Runs `run(counter)` with a deadline; on expiry the op's query is destroyed. */
async function counted(run) {
  const counter = { query: null, commits: 0 };
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      counter.query?.destroy();
      reject(new Error(`timed out after ${OP_TIMEOUT_MS} ms`));
    }, OP_TIMEOUT_MS);
  });
  try {
    return { result: await Promise.race([run(counter), timeout]), counter };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one DHT operation to completion; counts the peers that answered (see the header). */
async function op(message) {
  const value = recordValue(message.key, message.size);
  if (message.op === 'put') {
    const { result, counter } = await counted((c) => dht.immutablePut(value, { counter: c }));
    if (counter.commits === 0) throw new Error(`no node stored ${message.key} (${result.closestNodes.length} closest)`);
    return { rpcs: counter.query.successes + counter.commits };
  }
  const { result, counter } = await counted((c) => dht.immutableGet(DHT.hash(value), { counter: c }));
  if (!result || !value.equals(result.value)) throw new Error(`not found: ${message.key}`);
  return { rpcs: counter.query.successes };
}

process.on('message', (message) => {
  if (message.type === 'start') {
    start(message.bootstrap).catch((error) => {
      send({ type: 'error', error: String(error?.stack ?? error) });
      process.exit(1);
    });
  } else if (message.type === 'op') {
    (dht ? op(message) : Promise.reject(new Error('not started'))).then(
      (result) => send({ type: 'done', id: message.id, ok: true, ...result }),
      (error) => send({ type: 'done', id: message.id, ok: false, error: String(error?.message ?? error) }),
    );
  } else if (message.type === 'status') {
    // UDP: no connections to count (hyperdht opens streams only for connect(), unused here).
    send({ type: 'done', id: message.id, ok: true, routingTable: dht?.table.size ?? 0, connections: 0 });
  } else if (message.type === 'stop') {
    const exit = () => process.exit(0);
    setTimeout(exit, 2_000).unref();
    (dht ? dht.destroy() : Promise.resolve()).then(exit, exit);
  }
});

// The parent going away (also on its crash) ends this node.
process.on('disconnect', () => process.exit(0));
