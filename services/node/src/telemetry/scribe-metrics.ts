import { Gauge, type Registry } from 'prom-client';
import { totalCounter } from './file-metrics';
import type { Scribe } from '../scribe/scribe';

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** Messaging's counters and tree gauges, read from Scribe's running totals on every scrape. */
export function watchScribe(registry: Registry, scribe: Scribe): void {
  const { stats, tree, links } = scribe;
  totalCounter(registry, 'pastry_scribe_published_total', 'Messages this node numbered and stored as a topic\'s root.', () => stats.published);
  totalCounter(registry, 'pastry_scribe_delivered_total', 'Messages handed to this node\'s local subscribers (each subscriber counts).', () => stats.delivered);
  totalCounter(registry, 'pastry_scribe_forwarded_total', 'Messages this node sent down to its children in topic trees.', () => links.stats.sent);
  totalCounter(registry, 'pastry_scribe_fetched_total', 'Messages local subscribers read from the retained window (a gap filled, or a catch-up).', () => stats.fetched);
  totalCounter(registry, 'pastry_scribe_lost_total', 'Sequences local subscribers were told are gone (older than the retained window).', () => stats.lost);
  totalCounter(registry, 'pastry_scribe_tree_repairs_total', 'Joins again after a parent was lost, a root moved or a cycle was cut.', () => tree.stats.rejoins);
  totalCounter(registry, 'pastry_scribe_children_dropped_total', 'Children dropped because they could not be reached.', () => links.stats.dropped);
  totalCounter(registry, 'pastry_scribe_push_downs_total', 'Joins a full tree node handed to one of its children.', () => tree.stats.pushDowns);
  gauge(registry, 'pastry_scribe_topics', 'Topics this node takes part in (subscriber, forwarder or root).', () => tree.topics.size);
  gauge(registry, 'pastry_scribe_rooted_topics', 'Topics this node is the root of.', () => [...tree.topics.values()].filter((t) => t.isRoot).length);
  gauge(registry, 'pastry_scribe_children', 'Children entries over all of this node\'s topic trees (node stress).', () => [...tree.topics.values()].reduce((n, t) => n + t.children.size, 0));
  gauge(registry, 'pastry_scribe_subscribers', 'Subscriptions open on this node.', () => scribe.subscriberCount);
}
