/**
 * Scale switch and seeds for the randomised reliability suites. `npm test` runs the per-commit counts;
 * `npm run test:soak` sets SOAK=1 for the full counts. Every randomised test logs its seed; re-run one
 * with `SEED=<n> npx vitest run <file>`.
 */
export const soak: boolean = process.env["SOAK"] === "1"

/** `perCommit` in `npm test`, `full` under `npm run test:soak`. */
export const scaled = (perCommit: number, full: number): number => (soak ? full : perCommit)

/** The seed for a randomised test: `SEED` from the environment, else a fresh one; always printed. */
export const seedFor = (name: string): number => {
  const fromEnv = process.env["SEED"]
  const seed = fromEnv !== undefined && /^-?\d+$/.test(fromEnv) ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31)
  console.log(`[${name}] seed=${seed} (re-run: SEED=${seed} npx vitest run <file>)`)
  return seed
}

/** A small, fast, seedable PRNG (mulberry32) for tests that are not driven by fast-check. */
export const makeRandom = (seed: number) => {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    /** an integer in [0, n) */
    int: (n: number): number => Math.floor(next() * n),
    pick: <A>(items: ReadonlyArray<A>): A => {
      const item = items[Math.floor(next() * items.length)]
      if (item === undefined) throw new Error("pick from an empty list")
      return item
    }
  }
}
