/**
 * At most `limit` tasks at once: `add` waits for a free place, so a producer (an upload's
 * stream, a removal's list) never runs ahead of the work. The first failure is thrown by the
 * next `add` or `drain`, and no new task starts after it.
 */
export class Window {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    this.check();
    const p: Promise<void> = task().then(
      () => {
        this.running.delete(p);
      },
      (error: unknown) => {
        this.running.delete(p);
        this.failure ??= { error };
      },
    );
    this.running.add(p);
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
    this.check();
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
  }
}
