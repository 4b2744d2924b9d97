import { sharedPrefixLength } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { OVERLAY } from '../constants';
import type { RoutingRow, RoutingRowRequest } from '../gen/pastry/v1/peer';
import { InvalidArgumentError } from '../errors';
import { fromNodeInfo, fromNodeInfos, toNodeInfo } from './codec';
import type { OverlayContext } from './context';
import type { FailureDetector } from './failure-detector';
import type { Membership } from './membership';

/**
 * Routing-table repair and refresh: a slot whose node died is refilled by asking other
 * nodes of the same row for that row (Pastry's lazy repair); every few maintenance rounds
 * one row of a random entry is fetched, so the table tracks the ring as it changes.
 */
export class TableMaintenance {
  constructor(
    private readonly ctx: OverlayContext,
    private readonly membership: Membership,
    private readonly detector: FailureDetector,
  ) {}

  /** Asks a random entry of a random filled row for that row. */
  async refresh(): Promise<void> {
    const entries = this.ctx.state.table.entries();
    if (entries.length === 0) return;
    const pick = entries[Math.floor(this.ctx.env.random() * entries.length)]!;
    await this.fetchRow(pick.entry.node, pick.row);
  }

  /** A routing-table slot lost its node: ask other nodes of the same row for a replacement. */
  async repairSlot(dead: NodeHandle): Promise<void> {
    const row = sharedPrefixLength(this.ctx.self.id, dead.id);
    const others = this.ctx.state.table
      .row(row)
      .filter((e) => e.node.id !== dead.id)
      .slice(0, OVERLAY.tableRepairAsks);
    await Promise.all(others.map((e) => this.fetchRow(e.node, row)));
  }

  /** Learns the nodes of row `row` of a peer's table; they enter the table as hearsay. */
  async fetchRow(peer: NodeHandle, row: number): Promise<void> {
    this.ctx.count('get_routing_row');
    const t0 = this.ctx.now();
    try {
      const res = await this.ctx.env.call(peer, 'getRoutingRow', { sender: this.ctx.selfInfo, index: row }, { deadline: this.ctx.deadline() });
      this.membership.learnDirect(peer, this.ctx.now() - t0);
      this.detector.admit(this.membership.learnHearsay(fromNodeInfos(res.entries, 'entries')));
    } catch (error) {
      this.detector.peerFailed(peer, error);
    }
  }

  handleGetRoutingRow(req: RoutingRowRequest): RoutingRow {
    fromNodeInfo(req.sender, 'sender');
    if (req.index >= 32) throw new InvalidArgumentError(`row index must be below 32, got ${req.index}`);
    return { index: req.index, entries: this.ctx.state.table.row(req.index).map((e) => toNodeInfo(e.node)) };
  }
}
