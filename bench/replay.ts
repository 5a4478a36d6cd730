/**
 * `npm run bench:replay`: how fast the log folds and opens (issue 5).
 *
 * 1. Fold throughput: a 1,000,000-event log in the real format (hash-chained JSON lines written by `encodeRecord`,
 *    events encoded as the Engine records them: installs, enables, disables, uninstalls over 1,000 plugins, with
 *    causes) is read, then folded into the plugin state (`foldRecords`: decode + `evolve`), timed; goal >= 500,000
 *    events/s. Reading and verifying the lines (hash + chain) is reported on its own line.
 * 2. Open time of a 100,000-event log: `EventLog` (lock, read, verify every line, catch up) and the whole Engine start
 *    (log + fold + checkpoint check + config.toml adoption check; the checkpoint names the head, as after a clean
 *    shutdown); goal <= 1 s.
 *
 * BENCH_EVENTS / BENCH_OPEN_EVENTS change the sizes, BENCH_RUNS the repetitions (median reported).
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import { sha256Hex } from "../src/adapters/BlobStore.ts"
import { genesisRecord } from "../src/adapters/LogFile.ts"
import { segmentName } from "../src/adapters/SegmentName.ts"
import { EMPTY_HEAD, encodeRecord, type Head } from "../src/adapters/LogRecordFormat.ts"
import { nodeFs } from "../src/adapters/FsPort.ts"
import { readLogReadOnly } from "../src/adapters/LogReader.ts"
import { appLayer } from "../src/cli/AppLayer.ts"
import { type EventCause, PluginDisabled, PluginEnabled, type PluginEvent, PluginInstalled, PluginUninstalled } from "../src/domain/Events.ts"
import { evolve, initialState } from "../src/domain/PluginState.ts"
import { Engine } from "../src/services/EngineApi.ts"
import { EventLog } from "../src/services/EventLog.ts"
import { eventOf, newRecordOf } from "../src/services/EventRecords.ts"
import { makeLedgerPaths } from "../src/services/LedgerPaths.ts"
import { foldRecords } from "../src/services/RecordFold.ts"
import { envInt } from "./stats.ts"

const EVENTS = envInt("BENCH_EVENTS", 1_000_000)
const OPEN_EVENTS = envInt("BENCH_OPEN_EVENTS", 100_000)
const RUNS = envInt("BENCH_RUNS", 5)
const PLUGINS = 1_000
const CONFIG = "[features]\nplugins = true\n"

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}
const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

/** The i-th event: per plugin, install, then enable/disable flips, sometimes an uninstall (and a reinstall later). */
const eventAt = (i: number): PluginEvent => {
  const n = i % PLUGINS
  const pluginName = `plugin-${n}`
  const marketplaceName = `market-${n % 20}`
  const pluginId = `${pluginName}@${marketplaceName}`
  const round = Math.floor(i / PLUGINS)
  const cause: EventCause = { actor: round % 3 === 0 ? "cli" : "rpc", requestId: String(i), client: "codex-tui" }
  if (round % 10 === 0) {
    return new PluginInstalled({
      pluginId,
      pluginName,
      marketplaceName,
      marketplacePath: `/home/user/src/${marketplaceName}/.agents/plugins/marketplace.json`,
      sourcePath: `/home/user/src/${marketplaceName}/plugins/${pluginName}`,
      version: "local",
      treeHash: sha256Hex(Buffer.from(`${pluginId}:${round}`)),
      installPolicy: "AVAILABLE",
      authPolicy: "ON_INSTALL",
      cause
    })
  }
  if (round % 10 === 9) return new PluginUninstalled({ pluginId, cause })
  return round % 2 === 0 ? new PluginEnabled({ pluginId, cause }) : new PluginDisabled({ pluginId, cause })
}

/** Writes a ledger with `count` records (genesis included) in the real line format; returns its head. */
const writeLog = (ledgerDir: string, count: number): Head => {
  const eventsDir = Path.join(ledgerDir, "events")
  NodeFs.mkdirSync(eventsDir, { recursive: true })
  const fd = NodeFs.openSync(Path.join(eventsDir, segmentName(1)), "w")
  let head = EMPTY_HEAD
  let chunk: Array<Buffer> = []
  const start = Date.parse("2026-01-01T00:00:00Z")
  for (let seq = 1; seq <= count; seq++) {
    const ts = new Date(start + seq * 1000).toISOString()
    const record = seq === 1 ? genesisRecord(ts) : newRecordOf(eventAt(seq - 2), `bench-${seq}:0`, ts)
    const encoded = encodeRecord(seq, head.h, record)
    chunk.push(encoded.line)
    head = { seq, h: encoded.record.h }
    if (chunk.length === 10_000) {
      NodeFs.writeSync(fd, Buffer.concat(chunk))
      chunk = []
    }
  }
  NodeFs.writeSync(fd, Buffer.concat(chunk))
  NodeFs.closeSync(fd)
  return head
}

const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "bench-replay-"))
try {
  // 1. fold throughput
  let t = performance.now()
  const bigLedger = Path.join(root, "big", "ledger")
  writeLog(bigLedger, EVENTS)
  const bytes = NodeFs.statSync(Path.join(bigLedger, "events", segmentName(1))).size
  log(`generated ${EVENTS.toLocaleString("en")} records (${(bytes / 1e6).toFixed(0)} MB) in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  const readTimes: Array<number> = []
  let records = readLogReadOnly(nodeFs, bigLedger).records
  for (let run = 0; run < Math.min(RUNS, 3); run++) {
    t = performance.now()
    records = readLogReadOnly(nodeFs, bigLedger).records
    readTimes.push(performance.now() - t)
  }
  if (records.length !== EVENTS) throw new Error(`read ${records.length} records, expected ${EVENTS}`)
  const foldTimes: Array<number> = []
  let plugins = 0
  for (let run = 0; run < RUNS; run++) {
    t = performance.now()
    const state = foldRecords(initialState, records)
    foldTimes.push(performance.now() - t)
    plugins = state.plugins.size
  }
  // the fold as it was before the fast paths (Schema decode, a map copy per event), on a tenth of the log
  const sample = records.slice(0, Math.floor(EVENTS / 10))
  t = performance.now()
  let slow = initialState
  for (const record of sample) {
    const event = eventOf(record)
    slow = event === undefined ? { ...slow, seq: record.seq } : evolve(slow, event, record.seq)
  }
  const slowMs = performance.now() - t
  if (slow.plugins.size === 0 || plugins === 0) throw new Error("nothing folded")
  const foldRate = EVENTS / (median(foldTimes) / 1000)
  const readRate = EVENTS / (median(readTimes) / 1000)

  // 2. open time of a smaller log
  const home = Path.join(root, "open")
  const paths = makeLedgerPaths({ codexHome: home, home: Path.join(root, "user") })
  NodeFs.mkdirSync(paths.home, { recursive: true })
  const head = writeLog(paths.ledgerDir, OPEN_EVENTS)
  // config.toml as the log leaves it, and a clean shutdown's checkpoint: nothing to project or adopt at open
  const tables = [...foldRecords(initialState, readLogReadOnly(nodeFs, paths.ledgerDir).records).plugins.values()]
    .filter((p) => p.config.configured)
    .map((p) => `\n[plugins."${p.pluginId}"]\nenabled = ${p.config.enabled === true}\n`)
  const config = CONFIG + tables.join("")
  NodeFs.writeFileSync(paths.configPath, config)
  NodeFs.writeFileSync(paths.checkpointPath, JSON.stringify({ projectorVersion: 1, seq: head.seq, h: head.h, configHash: sha256Hex(Buffer.from(config)) }))
  const openLog: Array<number> = []
  const openEngine: Array<number> = []
  for (let run = 0; run < RUNS; run++) {
    t = performance.now()
    await Effect.runPromise(EventLog.use((l) => l.records).pipe(Effect.provide(EventLog.layer({ ledgerDir: paths.ledgerDir }))))
    openLog.push(performance.now() - t)
    t = performance.now()
    await Effect.runPromise(Engine.use(() => Effect.void).pipe(Effect.provide(appLayer(paths))))
    openEngine.push(performance.now() - t)
  }
  const appended = readLogReadOnly(nodeFs, paths.ledgerDir).records.length - OPEN_EVENTS
  if (appended !== 0) throw new Error(`opening appended ${appended} records`)

  const rows: ReadonlyArray<readonly [string, string, string, string]> = [
    [`fold ${EVENTS.toLocaleString("en")} events (decode + evolve), median of ${RUNS}`, `${Math.round(foldRate).toLocaleString("en")} events/s (${median(foldTimes).toFixed(0)} ms)`, ">= 500,000 events/s", foldRate >= 500_000 ? "PASS" : "FAIL"],
    ["  the same before the fast paths (Schema decode, map copy per event)", `${Math.round(sample.length / (slowMs / 1000)).toLocaleString("en")} events/s (on ${sample.length.toLocaleString("en")})`, "", "info"],
    [`read + verify ${EVENTS.toLocaleString("en")} lines (hash, chain), median`, `${Math.round(readRate).toLocaleString("en")} lines/s (${median(readTimes).toFixed(0)} ms)`, "", "info"],
    [`open a ${OPEN_EVENTS.toLocaleString("en")}-event log (EventLog), median of ${RUNS}`, `${median(openLog).toFixed(0)} ms`, "<= 1,000 ms", median(openLog) <= 1000 ? "PASS" : "FAIL"],
    [`open the Engine on it (log + fold + checks), median of ${RUNS}`, `${median(openEngine).toFixed(0)} ms`, "<= 1,000 ms", median(openEngine) <= 1000 ? "PASS" : "FAIL"]
  ]
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)))
  for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()}\n`)
  process.stdout.write(`(${plugins} plugins; node ${process.version}; ${Os.cpus().length} CPUs; load ${Os.loadavg().map((l) => l.toFixed(1)).join(" ")})\n`)
} finally {
  NodeFs.rmSync(root, { recursive: true, force: true })
}
