import { DIGITS, digit, sharedPrefixLength } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { OVERLAY } from '../constants';
import type { RoutingRow, RoutingRowRequest } from '../gen/pastry/v1/peer';
import { InvalidArgumentError } from '../errors';
import { fromNodeInfo, fromNodeInfos, toNodeInfo } from './codec';
import type { OverlayContext } from './context';
import { PeerCallError } from './env';
import type { FailureDetector } from './failure-detector';
import type { Membership } from './membership';

/**
 * Routing-table repair and refresh: a slot whose node died is refilled by asking other
 * nodes of the same row for that row (Pastry's lazy repair); every few maintenance rounds
 * a random entry of the next filled row is asked for that row, so the table tracks the ring
 * as it changes and, by measuring the nodes named against the entries they could replace,
 * grows more local; and now and then every entry is pinged, so a slot routing seldom uses
 * does not keep a dead node.
 */
export class TableMaintenance {
  /** Dead nodes whose slots wait for resumeRepairs(), while repairs are paused. */
  private deferred: NodeHandle[] | undefined;

  constructor(
    private readonly ctx: OverlayContext,
    private readonly membership: Membership,
    private readonly detector: FailureDetector,
  ) {}

  /** Row refreshes so far: each takes the next filled row in turn. */
  private refreshes = 0;

  /**
   * Asks a random entry of the next filled row for that row, and measures the nodes it names
   * that could replace an entry of ours: the nearer of each pair keeps the slot.
   */
  async refresh(): Promise<void> {
    const { table } = this.ctx.state;
    const rows = table.filledRows();
    if (rows.length === 0) return;
    const row = rows[this.refreshes++ % rows.length]!;
    const entries = table.row(row);
    const pick = entries[Math.floor(this.ctx.env.random() * entries.length)]!;
    const named = await this.fetchRow(pick.node, row);
    if (this.ctx.stopped) return;
    await this.measure(table.challengers(row, named));
  }

  /**
   * Offers each node to the table with its RTT: one already measured is compared for free,
   * and at most `tableImproveProbes` of the others are pinged. A pinged node that stays
   * silent and holds a slot (hearsay fills an empty one) is handled as a failed peer.
   */
  private async measure(nodes: readonly NodeHandle[]): Promise<void> {
    const { state, rtt } = this.ctx;
    const now = this.ctx.now();
    const unmeasured: NodeHandle[] = [];
    for (const n of nodes) {
      // Stale rows keep naming dead nodes: those are not worth a ping.
      if (state.isRecentlyDead(n.id, now) || this.membership.isRememberedDead(n.id)) continue;
      const srtt = rtt.srtt(n.id);
      if (srtt === undefined) unmeasured.push(n);
      else state.table.consider(n, srtt);
    }
    await Promise.all(
      unmeasured.slice(0, OVERLAY.tableImproveProbes).map(async (n) => {
        if ((await this.detector.probe(n, this.ctx.deadline(), 'table_improve_probe')) !== 'silent') return;
        if (state.table.has(n.id)) this.detector.peerFailed(n, new PeerCallError('timeout', 4, `${n.address} did not answer a table probe`));
      }),
    );
  }

  /**
   * Slots of dead nodes are emptied but not refilled until resumeRepairs(): the simulator's
   * failure experiment measures routing on tables before repair, as the Pastry paper does.
   */
  pauseRepairs(): void {
    this.deferred ??= [];
  }

  async resumeRepairs(): Promise<void> {
    const dead = this.deferred ?? [];
    this.deferred = undefined;
    await Promise.all(dead.map((n) => this.repairSlot(n)));
  }

  /**
   * Pings every routing-table entry and neighbourhood-set member (the rare routing case
   * uses both); one that stays silent is suspected, so confirmed dead and its slot
   * repaired. Returns how many were silent.
   */
  async check(): Promise<number> {
    const { state } = this.ctx;
    const nodes = new Map<string, NodeHandle>();
    for (const { entry } of state.table.entries()) nodes.set(entry.node.id, entry.node);
    for (const n of state.neighborhood.nodes()) if (!state.leafSet.has(n.id)) nodes.set(n.id, n);
    let silent = 0;
    await Promise.all(
      [...nodes.values()].map(async (node) => {
        if ((await this.detector.probe(node, this.ctx.deadline(), 'table_check')) !== 'silent') return;
        silent++;
        this.detector.peerFailed(node, new PeerCallError('timeout', 4, `${node.address} did not answer a table check`));
      }),
    );
    return silent;
  }

  /** A routing-table slot lost its node: ask other nodes of the same row for a replacement. */
  async repairSlot(dead: NodeHandle): Promise<void> {
    if (this.deferred) {
      this.deferred.push(dead);
      return;
    }
    const row = sharedPrefixLength(this.ctx.self.id, dead.id);
    if (row >= DIGITS) return;
    const column = digit(dead.id, row);
    // Another node holds the slot: the dead one was in the leaf or neighbourhood set only.
    if (this.ctx.state.table.get(row, column)) return;
    const others = this.ctx.state.table
      .row(row)
      .filter((e) => e.node.id !== dead.id)
      .slice(0, OVERLAY.tableRepairAsks);
    await Promise.all(others.map((e) => this.fetchRow(e.node, row, 'table_repair')));
    // The replacement is hearsay, and the row it came from may be as stale as ours was:
    // it keeps the slot only if it answers (a silent one is confirmed dead, and repaired).
    const replacement = this.ctx.state.table.get(row, column)?.node;
    if (!replacement || replacement.id === dead.id) return;
    if ((await this.detector.probe(replacement, this.ctx.deadline(), 'table_repair_probe')) === 'silent') {
      this.detector.peerFailed(replacement, new PeerCallError('timeout', 4, `${replacement.address} did not answer a repair probe`));
    }
  }

  /** Learns the nodes of row `row` of a peer's table; they enter the table as hearsay. Returns them (none if the peer failed). */
  async fetchRow(peer: NodeHandle, row: number, kind = 'get_routing_row'): Promise<NodeHandle[]> {
    this.ctx.count(kind);
    const t0 = this.ctx.now();
    try {
      const res = await this.ctx.env.call(peer, 'getRoutingRow', { sender: this.ctx.selfInfo, index: row }, { deadline: this.ctx.deadline() });
      this.membership.learnDirect(peer, this.ctx.now() - t0);
      const named = fromNodeInfos(res.entries, 'entries');
      this.detector.admit(this.membership.learnHearsay(named));
      return named;
    } catch (error) {
      this.detector.peerFailed(peer, error);
      return [];
    }
  }

  handleGetRoutingRow(req: RoutingRowRequest): RoutingRow {
    fromNodeInfo(req.sender, 'sender');
    if (req.index >= 32) throw new InvalidArgumentError(`row index must be below 32, got ${req.index}`);
    return { index: req.index, entries: this.ctx.state.table.row(req.index).map((e) => toNodeInfo(e.node)) };
  }
}
