import { Effect, Stream } from "effect"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import type { LineChannel } from "../rpc/JsonRpcPeer.ts"

/*
 * The memory of the processes that stay up (serve, daemon); see "Long-running daemon" in the README. Measured on the
 * daemon benchmark, their RSS is ~50 MB of node's own mapped code, ~25 MB of malloc (node, V8's compilers, I/O) and
 * the V8 heap: ~25-30 MB live, what it may grow by before a full collection, and every page it ever freed. V8 keeps
 * the pages its collections free in a pool for reuse (under load the pool grew in steps of ~10-20 MB while the heap
 * did not) and returns them only in a memory-reducing collection, which Node never runs on its own: the RSS was the
 * heap's high-water mark plus that pool, set by whichever burst peaked highest.
 */

/**
 * Set before the services are built (V8 reads these flags when it decides, so setting them at run time works).
 * - The young generation stays at its initial 2 x 1 MB. V8 doubles it, up to 2 x 64 MB, whenever many objects
 *   survive a scavenge, as appends' bursts make them, and keeps it; frozen only once serving (as before), its size
 *   was whatever start-up had grown it to (2 to 32 MB measured), and once shrunk while idle it could not grow back.
 * - The old generation grows by 20 % of what a full collection leaves (at least V8's 8 MB step) before the next
 *   one, instead of up to 4x when collections are cheap. Not a limit: the heap still grows to what the ledger
 *   needs (a long log), in smaller steps.
 */
export const tuneHeapForLongRunning = (): void => {
  V8.setFlagsFromString("--semi-space-growth-factor=1")
  V8.setFlagsFromString("--heap-growing-percent=20")
}

type Collect = (options: { readonly type: "major"; readonly execution: "sync"; readonly flavor: "last-resort" }) => unknown

let collect: Collect | undefined

/** V8's `gc`, taken from a context made while `--expose-gc` is set (the process's own context does not get it). */
const collector = (): Collect | undefined => {
  if (collect !== undefined) return collect
  V8.setFlagsFromString("--expose-gc")
  const gc: unknown = Vm.runInNewContext("gc")
  V8.setFlagsFromString("--no-expose-gc")
  if (typeof gc !== "function") return undefined
  collect = (options) => Reflect.apply(gc, undefined, [options])
  return collect
}

/**
 * A memory-reducing full collection ("last resort": repeated while it frees more), which returns the pooled pages
 * and shrinks the young generation: ~25 ms on an empty ledger, ~80 ms on the benchmark's 10,000 events.
 */
export const releaseFreeHeapPages = (): void => {
  collector()?.({ type: "major", execution: "sync", flavor: "last-resort" })
}

/** how long nothing must have been read or written before the heap's free pages are returned */
const QUIET_MS = 1_000
/** how often they are returned while requests never stop (one ~80 ms collection per period: < 1 % of a core) */
const BUSY_RELEASE_MS = 10_000
/** RSS growth since the last release that makes another worth a full collection */
const WORTH_RELEASING_BYTES = 4 * 1024 * 1024
/**
 * RSS growth since the last release that makes one due within a second, busy or not (under constant listing load
 * the pool grew by ~17 MB in 10 s and 24 MB was never reached), but not sooner than `RELEASE_NOW_GAP_MS` after the
 * last one: at most one ~80 ms collection per 3 s (< 3 % of a core) however fast RSS grows.
 */
const RELEASE_NOW_BYTES = 12 * 1024 * 1024
const RELEASE_NOW_GAP_MS = 3_000

/**
 * Returns `busy`, to call on every read and write: once they stop for `QUIET_MS`, every `BUSY_RELEASE_MS`
 * while they do not, and within a second of RSS growing by `RELEASE_NOW_BYTES`, the heap's free pages are returned
 * (if RSS grew since the last time). While busy, one timer a second; none while idle.
 */
export const makeQuietRelease = (): (() => void) => {
  let lastBusy = 0
  let releasedAt = performance.now()
  let rssAfterRelease = process.memoryUsage.rss()
  let timer: NodeJS.Timeout | undefined
  const arm = (ms: number) => {
    timer = setTimeout(check, ms)
    timer.unref()
  }
  const release = () => {
    releasedAt = performance.now()
    if (process.memoryUsage.rss() < rssAfterRelease + WORTH_RELEASING_BYTES) return
    releaseFreeHeapPages()
    rssAfterRelease = process.memoryUsage.rss()
  }
  const check = () => {
    timer = undefined
    const now = performance.now()
    const quietFor = now - lastBusy
    if (quietFor >= QUIET_MS) return release()
    const sinceRelease = now - releasedAt
    if (
      sinceRelease >= BUSY_RELEASE_MS ||
      (sinceRelease >= RELEASE_NOW_GAP_MS && process.memoryUsage.rss() >= rssAfterRelease + RELEASE_NOW_BYTES)
    ) release()
    arm(QUIET_MS - quietFor)
  }
  return () => {
    lastBusy = performance.now()
    if (timer === undefined) arm(QUIET_MS)
  }
}

/** `channel`, calling `busy` on every batch of lines read and every line written. */
export const reportingActivity = (channel: LineChannel, busy: () => void): LineChannel => ({
  // once per batch of lines read (a tap per line was three runtime steps more on every request)
  lines: Stream.mapArray(channel.lines, (lines) => {
    busy()
    return lines
  }),
  // one step before the write's own (a sync and an andThen were two)
  write: (line) =>
    Effect.suspend(() => {
      busy()
      return channel.write(line)
    })
})
