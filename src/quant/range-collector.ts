// Streaming activation statistics. Pass 1 tracks min/max; pass 2 (percentile, entropy, mse) fills a
// histogram of |x| over [0, absMax] fixed by pass 1, so memory stays constant however many
// calibration batches run, and the result does not depend on batch order.

export class MinMaxCollector {
  min = Infinity;
  max = -Infinity;
  count = 0;

  add(values: Float32Array): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    this.count += values.length;
  }

  get absMax(): number {
    return Math.max(Math.abs(this.min), Math.abs(this.max));
  }
}

export class AbsHistogram {
  readonly counts: Float64Array;
  total = 0;

  constructor(
    readonly absMax: number,
    readonly bins: number,
  ) {
    this.counts = new Float64Array(bins);
  }

  add(values: Float32Array): void {
    if (this.absMax <= 0) {
      this.counts[0]! += values.length;
      this.total += values.length;
      return;
    }
    const k = this.bins / this.absMax;
    const last = this.bins - 1;
    const counts = this.counts;
    for (let i = 0; i < values.length; i++) {
      const b = Math.floor(Math.abs(values[i]!) * k);
      counts[b > last ? last : b]!++;
    }
    this.total += values.length;
  }

  /** The |x| below which `pct` percent of values fall (upper edge of that bin). */
  percentile(pct: number): number {
    if (this.total === 0 || this.absMax <= 0) return this.absMax;
    const target = (pct / 100) * this.total;
    let acc = 0;
    for (let b = 0; b < this.bins; b++) {
      acc += this.counts[b]!;
      if (acc >= target) return ((b + 1) / this.bins) * this.absMax;
    }
    return this.absMax;
  }
}
