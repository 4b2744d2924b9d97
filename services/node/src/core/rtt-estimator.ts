import type { Id } from './id';

export interface RttEstimatorConfig {
  /** Floor and ceiling of a timeout, ms. */
  minTimeoutMs: number;
  maxTimeoutMs: number;
}

interface Estimate {
  srtt: number;
  rttvar: number;
}

/**
 * Per-peer timeouts from measured round trips, as TCP and Bamboo compute them:
 * srtt + 4 * rttvar (Jacobson/Karels), clamped. A peer never measured gets the ceiling, so
 * a fast ring detects failures in milliseconds while a slow peer is not declared dead early.
 */
export class RttEstimator {
  private readonly estimates = new Map<Id, Estimate>();

  constructor(readonly config: RttEstimatorConfig) {}

  observe(peer: Id, rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    const e = this.estimates.get(peer);
    if (!e) {
      this.estimates.set(peer, { srtt: rttMs, rttvar: rttMs / 2 });
      return;
    }
    e.rttvar = 0.75 * e.rttvar + 0.25 * Math.abs(e.srtt - rttMs);
    e.srtt = 0.875 * e.srtt + 0.125 * rttMs;
  }

  timeoutMs(peer: Id): number {
    const e = this.estimates.get(peer);
    if (!e) return this.config.maxTimeoutMs;
    return Math.min(this.config.maxTimeoutMs, Math.max(this.config.minTimeoutMs, e.srtt + 4 * e.rttvar));
  }

  forget(peer: Id): void {
    this.estimates.delete(peer);
  }

  /** Smoothed RTT, or undefined when never measured. */
  srtt(peer: Id): number | undefined {
    return this.estimates.get(peer)?.srtt;
  }
}
