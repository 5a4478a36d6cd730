/** Order statistics for benchmark samples (milliseconds). */

export interface Summary {
  readonly n: number
  readonly median: number
  readonly p25: number
  readonly p75: number
  readonly min: number
  readonly max: number
  readonly mean: number
}

/** Linear-interpolated quantile (`q` in [0, 1]) of unsorted samples. */
export const quantile = (samples: ReadonlyArray<number>, q: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

export const median = (samples: ReadonlyArray<number>): number => quantile(samples, 0.5)

export const summarize = (samples: ReadonlyArray<number>): Summary => ({
  n: samples.length,
  median: median(samples),
  p25: quantile(samples, 0.25),
  p75: quantile(samples, 0.75),
  min: samples.length === 0 ? Number.NaN : Math.min(...samples),
  max: samples.length === 0 ? Number.NaN : Math.max(...samples),
  mean: samples.length === 0 ? Number.NaN : samples.reduce((a, b) => a + b, 0) / samples.length
})

/** Rounds for JSON output (0.01 ms resolution). */
export const round = (ms: number): number => Math.round(ms * 100) / 100

/** A positive whole number from the environment (`BENCH_*` knobs), else `fallback`. */
export const envInt = (name: string, fallback: number, min = 1): number => {
  const value = Number.parseInt(process.env[name] ?? "", 10)
  return Number.isFinite(value) && value >= min ? value : fallback
}

/** The slope of the least-squares line through `points` ([x, y] pairs); 0 with fewer than two distinct x. */
export const slope = (points: ReadonlyArray<readonly [number, number]>): number => {
  const n = points.length
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n
  let covariance = 0
  let variance = 0
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY)
    variance += (x - meanX) ** 2
  }
  return variance === 0 ? 0 : covariance / variance
}
