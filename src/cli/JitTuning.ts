import * as V8 from "node:v8"

/**
 * V8's tiers for `serve` (a process per client session, so a fresh one whenever a session starts), set once the
 * command is known (the early `initialize` answer is not affected).
 *
 * A command runs each of its functions once or twice, so in a fresh process they stay in V8's lowest tiers for
 * hundreds of commands: without feedback for the first eight calls of each (no inline caches: every property access
 * a lookup), then interpreted, then in baseline code (Sparkplug). `--no-lazy-feedback-allocation` gives a function its
 * feedback at its first call, and `--always-sparkplug` compiles it to baseline code then (a fast, linear compile),
 * skipping the interpreted stretch. Measured on the bench's installs (fresh processes, 31 installs each, paired
 * against the same build without them): 0.92x / 0.93x of the time; the first alone: 0.97x / 1.02x, within the noise.
 * Optimising tiers sooner was measured and left (bench/HISTORY.md, "Why the install stays above ~4 ms"): their compilations
 * and deoptimisations cost the first commands more than they save. Not set for the daemon: it runs long enough for
 * its functions to reach the optimising tiers anyway, and with these flags its RSS under 100,000 `plugin/list` calls
 * grew by 10.7 % in one run (its goal is < 10 %; 0.4-3.8 % without), the baseline code of every function run kept.
 */
export const tuneJitForServe = (): void => {
  V8.setFlagsFromString("--no-lazy-feedback-allocation")
  V8.setFlagsFromString("--always-sparkplug")
}
