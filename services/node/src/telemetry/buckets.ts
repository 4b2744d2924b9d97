/** Histogram buckets, in base units. */

/** RPC and routed-operation latency, seconds: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One store operation, seconds: 50 µs (memory) to 1 s (a struggling Redis). */
export const STORE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Overlay hops after the entry node; Pastry needs about log16 N. */
export const HOP_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 8, 12, 16];

/**
 * One metric child per key, looked up once: prom-client's labels() builds and hashes the label
 * set on every call, and these are called on every request.
 */
export function childrenBy<K extends string, C>(make: (key: K) => C): (key: K) => C {
  const children = new Map<K, C>();
  return (key) => {
    let child = children.get(key);
    if (child === undefined) children.set(key, (child = make(key)));
    return child;
  };
}
