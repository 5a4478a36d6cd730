/**
 * `npm run bench:process`: round trips to a process plugin built with the SDK (examples/process-plugins/
 * metadata-echo). Measures (1) no-op calls over a direct stdio round trip, one at a time: `ping`, and
 * `metadata/series/match` (the cheapest call the host routes: no storage, no I/O in the plugin); (2) the same
 * `match` through the host (`ProcessHost`, layered as the daemon layers it, in a temp CODEX_HOME): host overhead =
 * host p50 - direct p50 of `match` (goal <= 0.3 ms); (3) throughput of 100 concurrent calls, direct and through
 * the host, on one plugin process. See bench/README.md. Progress on stderr, the table on stdout, raw numbers in
 * bench/results/process-latest.json.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Os from "node:os"
import { performance } from "node:perf_hooks"
import { Effect } from "effect"
import { loggingLayer } from "../src/cli/Logging.ts"
import { processLayer } from "../src/cli/ProcessLayer.ts"
import { makeLedgerPaths } from "../src/services/LedgerPaths.ts"
import { ProcessHost } from "../src/services/ProcessHost.ts"
import { envInt, quantile } from "./stats.ts"

const REPO = path.resolve(import.meta.dirname, "..")
const PLUGIN = path.join(REPO, "examples/process-plugins/metadata-echo/metadata-echo.ts")
/** the no-op call the host routes (capability metadataProvider: series); the plugin answers it from its params */
const NOOP = { method: "metadata/series/match", params: { title: "bench" } }

const CONFIG = {
  warmup: envInt("BENCH_WARMUP", 1_000),
  sequential: envInt("BENCH_CALLS", 5_000),
  concurrency: envInt("BENCH_CONCURRENCY", 100),
  rounds: envInt("BENCH_ROUNDS", 100)
}

const log = (message: string) => process.stderr.write(`[bench:process] ${message}\n`)

/** A minimal host side: ids, a pending map, responses timestamped when their newline arrives. */
const startPlugin = () => {
  const child = spawn(process.execPath, [PLUGIN], { stdio: ["pipe", "pipe", "inherit"], env: { PATH: process.env["PATH"] ?? "" } })
  const pending = new Map<number, (at: number) => void>()
  let buffer = ""
  let nextId = 1
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (chunk: string) => {
    buffer += chunk
    for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
      const at = performance.now()
      const message: unknown = JSON.parse(buffer.slice(0, newline))
      buffer = buffer.slice(newline + 1)
      const id = typeof message === "object" && message !== null && "id" in message ? message.id : undefined
      const settle = typeof id === "number" ? pending.get(id) : undefined
      if (settle !== undefined && typeof id === "number") {
        pending.delete(id)
        settle(at)
      }
    }
  })
  /** Sends a request; resolves with the round-trip time in ms (write -> answer line). */
  const call = (method: string, params?: unknown): Promise<number> =>
    new Promise((resolve) => {
      const id = nextId++
      const started = performance.now()
      pending.set(id, (at) => resolve(at - started))
      child.stdin.write(JSON.stringify(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params }) + "\n")
    })
  const stop = async () => {
    await call("shutdown")
    await new Promise((resolve) => child.once("close", resolve))
  }
  return { call, stop }
}

/** Microsecond resolution: a direct round trip is tens of microseconds. */
const ms3 = (value: number): number => Math.round(value * 1000) / 1000

const summary = (samples: ReadonlyArray<number>) => ({
  n: samples.length,
  p50: ms3(quantile(samples, 0.5)),
  p95: ms3(quantile(samples, 0.95)),
  p99: ms3(quantile(samples, 0.99))
})

interface RoundsResult {
  readonly calls: number
  readonly callsPerSecond: number
  readonly roundMs: ReturnType<typeof summary>
}

/** `CONFIG.rounds` rounds of one batch of concurrent calls: calls per second over all, and the time of a round. */
const rounds = async (batch: () => Promise<unknown>): Promise<RoundsResult> => {
  const times: Array<number> = []
  const started = performance.now()
  for (let round = 0; round < CONFIG.rounds; round++) {
    const roundStart = performance.now()
    await batch()
    times.push(performance.now() - roundStart)
  }
  const calls = CONFIG.rounds * CONFIG.concurrency
  return { calls, callsPerSecond: Math.round(calls / ((performance.now() - started) / 1000)), roundMs: summary(times) }
}

/**
 * The same plugin registered in a temp CODEX_HOME and called through `ProcessHost.call` (registration read from
 * the log, instance lookup, capability routing, the peer), timed inside one Effect program so no per-call
 * runtime entry is counted.
 */
const benchHost = Effect.gen(function*() {
  const root = fs.mkdtempSync(path.join(Os.tmpdir(), "bench-process-"))
  const paths = makeLedgerPaths({ codexHome: path.join(root, "codex"), home: root })
  const run = Effect.gen(function*() {
    const host = yield* ProcessHost
    const origin = { actor: "cli", client: "bench" } as const
    // no rate limit for this plugin (the host's default, 60 calls per minute, would stop the bench after 60 calls)
    yield* host.add({ name: "metadata-echo", command: "node", args: [PLUGIN], env: {}, cwd: null, rateLimitPerMinute: 0 }, origin)
    const call = host.call({ name: "metadata-echo", ...NOOP })
    log(`host: ${CONFIG.warmup} warm-up and ${CONFIG.sequential} timed \`${NOOP.method}\` calls, one at a time`)
    yield* Effect.repeat(call, { times: CONFIG.warmup })
    const sequential: Array<number> = []
    const startedAll = performance.now()
    for (let i = 0; i < CONFIG.sequential; i++) {
      const at = performance.now()
      yield* call
      sequential.push(performance.now() - at)
    }
    const wallPerCallMs = (performance.now() - startedAll) / CONFIG.sequential
    log(`host throughput: ${CONFIG.rounds} rounds of ${CONFIG.concurrency} concurrent calls`)
    const batch = Effect.all(Array.from({ length: CONFIG.concurrency }, () => call), { concurrency: "unbounded", discard: true })
    const times: Array<number> = []
    const started = performance.now()
    for (let round = 0; round < CONFIG.rounds; round++) {
      const at = performance.now()
      yield* batch
      times.push(performance.now() - at)
    }
    const calls = CONFIG.rounds * CONFIG.concurrency
    const hostRounds: RoundsResult = { calls, callsPerSecond: Math.round(calls / ((performance.now() - started) / 1000)), roundMs: summary(times) }
    return { sequential, wallPerCallMs, rounds: hostRounds }
  })
  // the daemon's host and logging (stderr): default options (60 s pings, 5 s grace); only the CODEX_HOME is the bench's own
  return yield* run.pipe(Effect.provide(processLayer(paths)), Effect.scoped, Effect.provide(loggingLayer({ level: undefined, file: undefined })), Effect.ensuring(Effect.sync(() => fs.rmSync(root, { recursive: true, force: true }))))
})

const main = async () => {
  log(`node ${process.version}, load average ${process.platform === "linux" ? fs.readFileSync("/proc/loadavg", "utf8").trim() : "n/a"}`)
  const plugin = startPlugin()
  await plugin.call("initialize", { adminConfig: {} })

  log(`direct: ${CONFIG.warmup} warm-up pings, then ${CONFIG.sequential} timed, one at a time`)
  for (let i = 0; i < CONFIG.warmup; i++) await plugin.call("ping")
  const direct: Array<number> = []
  const sequentialStart = performance.now()
  for (let i = 0; i < CONFIG.sequential; i++) direct.push(await plugin.call("ping"))
  // Cross-check of the per-call timestamps: wall time over the whole sequence, per call.
  const wallPerCallMs = (performance.now() - sequentialStart) / CONFIG.sequential

  log(`direct: ${CONFIG.warmup} warm-up and ${CONFIG.sequential} timed \`${NOOP.method}\` calls, one at a time`)
  for (let i = 0; i < CONFIG.warmup; i++) await plugin.call(NOOP.method, NOOP.params)
  const directMatch: Array<number> = []
  for (let i = 0; i < CONFIG.sequential; i++) directMatch.push(await plugin.call(NOOP.method, NOOP.params))

  log(`direct throughput: ${CONFIG.rounds} rounds of ${CONFIG.concurrency} concurrent \`${NOOP.method}\` calls`)
  const directRounds = await rounds(() => Promise.all(Array.from({ length: CONFIG.concurrency }, () => plugin.call(NOOP.method, NOOP.params))))
  await plugin.stop()

  const host = await Effect.runPromise(benchHost)
  const results = {
    config: CONFIG,
    directPingMs: { ...summary(direct), wallPerCall: ms3(wallPerCallMs) },
    directMatchMs: summary(directMatch),
    hostMatchMs: { ...summary(host.sequential), wallPerCall: ms3(host.wallPerCallMs) },
    hostOverheadP50Ms: ms3(quantile(host.sequential, 0.5) - quantile(directMatch, 0.5)),
    concurrentDirect: directRounds,
    concurrentHost: host.rounds
  }
  fs.mkdirSync(path.join(REPO, "bench/results"), { recursive: true })
  fs.writeFileSync(path.join(REPO, "bench/results/process-latest.json"), JSON.stringify(results, null, 2) + "\n")

  const d = results.directPingMs
  const dm = results.directMatchMs
  const hm = results.hostMatchMs
  const overhead = results.hostOverheadP50Ms
  const rate = (r: RoundsResult) => `${r.callsPerSecond} calls/s; round p50 ${r.roundMs.p50} ms, p95 ${r.roundMs.p95} ms`
  process.stdout.write(
    [
      "| metric | result | goal |",
      "|---|---|---|",
      `| no-op call (ping), direct stdio round trip to an SDK plugin | p50 ${d.p50} ms, p95 ${d.p95} ms, p99 ${d.p99} ms (n=${d.n}; wall time per call ${d.wallPerCall} ms) | baseline |`,
      `| \`${NOOP.method}\`, direct stdio round trip | p50 ${dm.p50} ms, p95 ${dm.p95} ms, p99 ${dm.p99} ms (n=${dm.n}) | baseline |`,
      `| \`${NOOP.method}\` through the host | p50 ${hm.p50} ms, p95 ${hm.p95} ms, p99 ${hm.p99} ms (n=${hm.n}; wall time per call ${hm.wallPerCall} ms) | |`,
      `| host overhead (host p50 - direct p50) | ${overhead} ms | <= 0.3 ms: ${overhead <= 0.3 ? "PASS" : "FAIL"} |`,
      `| ${CONFIG.concurrency} concurrent calls on one plugin process, direct | ${rate(results.concurrentDirect)} | |`,
      `| ${CONFIG.concurrency} concurrent calls on one plugin process, through the host | ${rate(results.concurrentHost)} | |`
    ].join("\n") + "\n"
  )
}

main().catch((error: unknown) => {
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exit(1)
})
