// Request and reply over one IPC channel: a numbered request, a reply with the same number, a
// deadline. Used on both sides (the primary asks a worker for its sessions; a worker asks the
// primary for the metrics of all workers).

export class Pending {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; timer: NodeJS.Timeout }>();

  /** A new request id whose reply resolves the promise; `undefined` after timeoutMs or on drop. */
  open(timeoutMs: number): { id: number; reply: Promise<unknown> } {
    const id = ++this.next;
    const reply = new Promise<unknown>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, { resolve, timer });
    });
    return { id, reply };
  }

  settle(id: number, value: unknown): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(value);
  }

  /** The other side is gone: every open request resolves `undefined`. */
  dropAll(): void {
    for (const [id] of this.waiting) this.settle(id, undefined);
  }
}
