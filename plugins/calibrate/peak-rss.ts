// Peak resident memory while a step runs, as a delta over the RSS when it started: the number that
// says whether calibration memory grows with the data set (it should not: statistics are streamed).
// RSS is sampled on a timer and at every explicit sample() (after each batch, where peaks happen).

export class PeakRssMeter {
  private readonly start = process.memoryUsage.rss();
  private peak = this.start;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 25) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
  }

  /** Stops sampling; returns the peak growth in MiB (0 when RSS never rose). */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return Math.round(((this.peak - this.start) / 2 ** 20) * 10) / 10;
  }
}
