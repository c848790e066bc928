/** Buffers log output and appends it to the hub's live log a few times a second. */
export class LiveLog {
  private buffer: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly append: (chunk: Uint8Array) => Promise<void>) {}

  write(chunk: string | Buffer): void {
    this.buffer.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, 250);
  }

  flush(): Promise<void> {
    const data = Buffer.concat(this.buffer);
    this.buffer = [];
    if (data.length === 0) return this.flushing;
    this.flushing = this.flushing.then(async () => {
      for (let i = 0; i < data.length; i += 512 * 1024) await this.append(new Uint8Array(data.subarray(i, i + 512 * 1024))).catch(() => {});
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
