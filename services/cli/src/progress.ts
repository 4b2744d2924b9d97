/** Bytes as the CLI prints them: 1.5 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * A one-line progress bar on stderr (bytes, rate, ETA), redrawn at most 10 times a second,
 * and only when stderr is a terminal: pipes and logs get nothing.
 */
export class Progress {
  private readonly started = Date.now();
  private last = 0;
  private done = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    enabled?: boolean,
  ) {
    this.enabled = enabled ?? Boolean(stream.isTTY);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  /** `done` bytes so far, counting any resumed from before. */
  update(done: number, force = false): void {
    this.done = done;
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    this.stream.write(`\r\x1b[2K${this.line(now)}`);
  }

  line(now = Date.now()): string {
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = this.done / seconds;
    const width = 24;
    const share = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const filled = Math.round(share * width);
    const eta = rate > 0 && this.total > this.done ? `ETA ${Math.ceil((this.total - this.done) / rate)} s` : '';
    return `${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${formatBytes(this.done)} / ${formatBytes(this.total)}  ${formatBytes(rate)}/s  ${eta}`.trimEnd();
  }

  finish(): void {
    if (!this.enabled) return;
    this.update(this.done, true);
    this.stream.write('\n');
  }
}
