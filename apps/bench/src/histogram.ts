/**
 * A mergeable latency histogram with bounded relative error, in the manner
 * of HdrHistogram: values are whole microseconds; values below
 * `linearLimitMicros` each get their own bucket (exact), larger values fall
 * into log-linear buckets, `subBucketCount` per power of two, so any value is
 * reported within 1/subBucketCount (0.8 %) of what was recorded.
 *
 * Worker threads each fill their own histogram and post `serialize()`d
 * copies; the main thread `merge`s them. Count, sum, sum of squares, min and
 * max are kept exactly, so mean and standard deviation are exact.
 *
 * Percentiles use the nearest-rank definition: the p-quantile is the smallest
 * recorded value v such that at least ceil(p * count) values are <= v. A
 * bucket reports its highest equivalent value (the largest whole microsecond
 * it can hold), clamped to the exact [min, max] seen, so p50 <= p90 <= p99 <=
 * p99.9 <= max always holds.
 */

/** Sub-buckets per power of two above the linear range; 2^7 = 128 gives < 0.8 % error. */
const subBucketBits = 7;
const subBucketCount = 1 << subBucketBits;
/** Values below this (in microseconds) are recorded exactly, one bucket each. */
const linearLimitMicros = subBucketCount;
/** Largest power of two tracked: 2^40 us is 12.7 days; larger values are clamped into the last bucket. */
const maxExponent = 40;
/** Total buckets: the linear range plus subBucketCount per octave from 2^7 to 2^40. */
export const histogramBucketCount = linearLimitMicros + (maxExponent - subBucketBits + 1) * subBucketCount;
const maxTrackableMicros = 2 ** (maxExponent + 1) - 1;

/** The wire form posted between threads: only non-empty buckets. */
export interface SerializedHistogram {
  readonly count: number;
  readonly sumMicros: number;
  readonly sumSquaresMicros: number;
  readonly minMicros: number;
  readonly maxMicros: number;
  /** Pairs of [bucketIndex, count] for non-empty buckets, index ascending. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

/** What reports print: milliseconds, percentiles already computed. */
export interface LatencySummary {
  readonly count: number;
  readonly minMs: number;
  readonly meanMs: number;
  readonly stddevMs: number;
  readonly maxMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
}

export function bucketIndexForMicros(valueMicros: number): number {
  const value = Math.min(Math.max(0, Math.floor(valueMicros)), maxTrackableMicros);
  if (value < linearLimitMicros) return value;
  // value >= 2^7: exponent e in [7, 40]; the top subBucketBits+1 bits select the sub-bucket.
  let exponent = Math.floor(Math.log2(value));
  // Math.log2 may be off by one next to exact powers of two; correct it.
  if (2 ** exponent > value) exponent -= 1;
  else if (2 ** (exponent + 1) <= value) exponent += 1;
  const shift = exponent - subBucketBits;
  const sub = Math.floor(value / 2 ** shift) - subBucketCount;
  return linearLimitMicros + shift * subBucketCount + sub;
}

/** The smallest whole microsecond value a bucket holds. */
export function bucketLowestMicros(index: number): number {
  if (index < linearLimitMicros) return index;
  const shift = Math.floor((index - linearLimitMicros) / subBucketCount);
  const sub = (index - linearLimitMicros) % subBucketCount;
  return (subBucketCount + sub) * 2 ** shift;
}

/** The largest whole microsecond value a bucket holds. */
export function bucketHighestMicros(index: number): number {
  if (index < linearLimitMicros) return index;
  const shift = Math.floor((index - linearLimitMicros) / subBucketCount);
  return bucketLowestMicros(index) + 2 ** shift - 1;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(histogramBucketCount);
  private countTotal = 0;
  private sumMicros = 0;
  private sumSquaresMicros = 0;
  private minMicros = Number.POSITIVE_INFINITY;
  private maxMicros = 0;

  get count(): number {
    return this.countTotal;
  }

  /** Records one latency given in milliseconds (rounded to the microsecond). */
  recordMs(latencyMs: number): void {
    this.recordMicros(Math.round(latencyMs * 1000));
  }

  reset(): void {
    this.counts.fill(0);
    this.countTotal = 0;
    this.sumMicros = 0;
    this.sumSquaresMicros = 0;
    this.minMicros = Number.POSITIVE_INFINITY;
    this.maxMicros = 0;
  }

  recordMicros(valueMicros: number): void {
    const value = Math.max(0, Math.round(valueMicros));
    const index = bucketIndexForMicros(value);
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.countTotal += 1;
    this.sumMicros += value;
    this.sumSquaresMicros += value * value;
    if (value < this.minMicros) this.minMicros = value;
    if (value > this.maxMicros) this.maxMicros = value;
  }

  merge(other: LatencyHistogram | SerializedHistogram): void {
    const source = other instanceof LatencyHistogram ? other.serialize() : other;
    if (source.count === 0) return;
    for (const [index, count] of source.buckets) {
      if (!Number.isInteger(index) || index < 0 || index >= histogramBucketCount) throw new RangeError(`histogram bucket ${index} out of range`);
      this.counts[index] = (this.counts[index] ?? 0) + count;
    }
    this.countTotal += source.count;
    this.sumMicros += source.sumMicros;
    this.sumSquaresMicros += source.sumSquaresMicros;
    this.minMicros = Math.min(this.minMicros, source.minMicros);
    this.maxMicros = Math.max(this.maxMicros, source.maxMicros);
  }

  serialize(): SerializedHistogram {
    const buckets: Array<[number, number]> = [];
    for (let index = 0; index < histogramBucketCount; index++) {
      const count = this.counts[index] ?? 0;
      if (count > 0) buckets.push([index, count]);
    }
    return {
      count: this.countTotal,
      sumMicros: this.sumMicros,
      sumSquaresMicros: this.sumSquaresMicros,
      minMicros: this.countTotal === 0 ? 0 : this.minMicros,
      maxMicros: this.maxMicros,
      buckets,
    };
  }

  static from(serialized: SerializedHistogram): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.merge(serialized);
    return histogram;
  }

  /** Nearest-rank quantile in microseconds, q in [0, 1]; 0 when empty. */
  quantileMicros(q: number): number {
    if (this.countTotal === 0) return 0;
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is not in [0, 1]`);
    const rank = Math.max(1, Math.ceil(q * this.countTotal));
    let seen = 0;
    for (let index = 0; index < histogramBucketCount; index++) {
      seen += this.counts[index] ?? 0;
      if (seen >= rank) return Math.min(this.maxMicros, Math.max(this.minMicros, bucketHighestMicros(index)));
    }
    return this.maxMicros;
  }

  meanMicros(): number {
    return this.countTotal === 0 ? 0 : this.sumMicros / this.countTotal;
  }

  stddevMicros(): number {
    if (this.countTotal === 0) return 0;
    const mean = this.meanMicros();
    // Population variance; clamp the tiny negative values rounding can produce.
    return Math.sqrt(Math.max(0, this.sumSquaresMicros / this.countTotal - mean * mean));
  }

  summary(): LatencySummary {
    const ms = (micros: number): number => micros / 1000;
    return {
      count: this.countTotal,
      minMs: ms(this.countTotal === 0 ? 0 : this.minMicros),
      meanMs: ms(this.meanMicros()),
      stddevMs: ms(this.stddevMicros()),
      maxMs: ms(this.maxMicros),
      p50Ms: ms(this.quantileMicros(0.5)),
      p90Ms: ms(this.quantileMicros(0.9)),
      p99Ms: ms(this.quantileMicros(0.99)),
      p999Ms: ms(this.quantileMicros(0.999)),
    };
  }

  /**
   * A coarse view for printing, like etcd's "Response time histogram": up to
   * `rowLimit` rows of [upper bound ms, count], the rows spaced evenly on a
   * log scale between min and max.
   */
  coarseRows(rowLimit: number): Array<{ upToMs: number; count: number }> {
    if (this.countTotal === 0) return [];
    const low = Math.max(1, this.minMicros);
    const high = Math.max(low, this.maxMicros);
    const rowCount = high === low ? 1 : rowLimit;
    const bounds = Array.from({ length: rowCount }, (_, row) => (row === rowCount - 1 ? high : low * (high / low) ** ((row + 1) / rowCount)));
    const rows = bounds.map((bound) => ({ upToMs: bound / 1000, count: 0 }));
    let row = 0;
    for (let index = 0; index < histogramBucketCount; index++) {
      const count = this.counts[index] ?? 0;
      if (count === 0) continue;
      const value = Math.min(this.maxMicros, Math.max(this.minMicros, bucketHighestMicros(index)));
      while (row < rows.length - 1 && value > (bounds[row] ?? high)) row++;
      rows[row]!.count += count;
    }
    return rows;
  }
}
