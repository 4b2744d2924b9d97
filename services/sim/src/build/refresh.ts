import { OVERLAY } from '../../../node/src/constants';
import type { NodeHandle } from '../../../node/src/core';
import type { Rng } from '../rng';
import type { World } from '../world';

export interface RefreshReport {
  /** Refreshes each node ran. */
  refreshes: number;
  /** Row requests and probes sent, in all. */
  rowRequests: number;
  probes: number;
  /** Routing-table slots that took a nearer node. */
  replaced: number;
}

/**
 * The routing-table maintenance a live ring runs after it is built, as the node's
 * TableMaintenance.refresh does every `tableRefreshRounds` maintenance rounds: each node asks
 * a random entry of its next filled row for that row, takes the nodes named as hearsay, and
 * measures up to `tableImproveProbes` of those that could replace an entry (a ping each),
 * keeping the nearer node of each slot. `refreshes` per node; 16 is about five minutes of a
 * ring's life at the default 1 s maintenance interval.
 */
export function refreshTables(world: World, refreshes: number, rng: Rng): RefreshReport {
  const report: RefreshReport = { refreshes, rowRequests: 0, probes: 0, replaced: 0 };
  const live = world.liveRing().sortedNodes();
  for (let round = 0; round < refreshes; round++) {
    for (const x of live) {
      const state = world.states[x]!;
      const rows = state.table.filledRows();
      if (rows.length === 0) continue;
      const row = rows[round % rows.length]!;
      const entries = state.table.row(row);
      const peer = world.indexOf(entries[rng.int(entries.length)]!.node);
      report.rowRequests++;
      world.count('get_routing_row');
      const named: NodeHandle[] = world.states[peer]!.table.row(row).map((e) => e.node);
      for (const n of named) state.learn(n, world.now, { leafSet: false });
      for (const n of state.table.challengers(row, named).slice(0, OVERLAY.tableImproveProbes)) {
        report.probes++;
        world.count('table_improve_probe');
        const i = world.indexOf(n);
        // A silent node proves nothing; the node's protocol handles it as a failed peer.
        if (world.isAlive(i) && state.table.consider(n, world.rtt(x, i))) report.replaced++;
      }
    }
  }
  return report;
}
