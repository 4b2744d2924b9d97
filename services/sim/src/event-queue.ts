/**
 * Virtual time: a priority queue of callbacks ordered by (time, insertion order). Nothing
 * waits on a real clock; `run` jumps from one event to the next. Equal times keep their
 * insertion order, which keeps a run deterministic.
 */
export class EventQueue {
  private times: number[] = [];
  private seqs: number[] = [];
  private actions: (() => void)[] = [];
  private seq = 0;
  private current = 0;
  private processed = 0;

  /** The current virtual time in ms. */
  get now(): number {
    return this.current;
  }

  get size(): number {
    return this.times.length;
  }

  /** How many events have run since the queue was made. */
  get eventsRun(): number {
    return this.processed;
  }

  /** Runs `action` `delay` ms from now (delay >= 0). */
  schedule(delay: number, action: () => void): void {
    if (!(delay >= 0)) throw new RangeError(`an event delay must be >= 0, got ${delay}`);
    this.push(this.current + delay, action);
  }

  /** Runs events until none is left (or `limit` events ran); returns how many ran. */
  run(limit = Number.POSITIVE_INFINITY): number {
    let ran = 0;
    while (this.times.length > 0 && ran < limit) {
      const time = this.times[0]!;
      const action = this.pop();
      this.current = time;
      action();
      ran++;
    }
    this.processed += ran;
    return ran;
  }

  private push(time: number, action: () => void): void {
    const seq = this.seq++;
    let i = this.times.length;
    this.times.push(time);
    this.seqs.push(seq);
    this.actions.push(action);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(time, seq, this.times[parent]!, this.seqs[parent]!)) break;
      this.move(parent, i);
      i = parent;
    }
    this.set(i, time, seq, action);
  }

  private pop(): () => void {
    const top = this.actions[0]!;
    const time = this.times.pop()!;
    const seq = this.seqs.pop()!;
    const action = this.actions.pop()!;
    const n = this.times.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.before(this.times[right]!, this.seqs[right]!, this.times[left]!, this.seqs[left]!)) child = right;
      if (!this.before(this.times[child]!, this.seqs[child]!, time, seq)) break;
      this.move(child, i);
      i = child;
    }
    this.set(i, time, seq, action);
    return top;
  }

  private before(t1: number, s1: number, t2: number, s2: number): boolean {
    return t1 < t2 || (t1 === t2 && s1 < s2);
  }

  private move(from: number, to: number): void {
    this.set(to, this.times[from]!, this.seqs[from]!, this.actions[from]!);
  }

  private set(i: number, time: number, seq: number, action: () => void): void {
    this.times[i] = time;
    this.seqs[i] = seq;
    this.actions[i] = action;
  }
}
