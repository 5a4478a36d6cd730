/**
 * `npm run bench`: plugin-ledger `serve` vs the reference `codex app-server` (0.116.0) on a generated
 * fixture of 20 marketplaces × 50 plugins. See bench/README.md for how to read the output.
 *
 * Progress goes to stderr; the result table to stdout; the raw samples to bench/results/latest.json.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createFixture, type Fixture, freshHome, removeFixture } from "./fixtures.ts"
import { Server, serverCommand, type Target, TARGETS } from "./server.ts"
import { envInt, round, type Summary, summarize } from "./stats.ts"
import { ensureFreshBundle } from "./freshBundle.ts"

const REPO = path.resolve(import.meta.dirname, "..")
process.chdir(REPO)

const CONFIG = {
  marketplaces: envInt("BENCH_MARKETPLACES", 20),
  pluginsPerMarketplace: envInt("BENCH_PLUGINS", 50),
  /** timed starts per target (each also measures the first `plugin/list`) */
  starts: envInt("BENCH_STARTS", 12),
  /** timed repeated `plugin/list` calls per target */
  listRepeats: envInt("BENCH_LIST_REPEATS", 50),
  /** timed installs (distinct plugins) per target */
  installs: envInt("BENCH_INSTALLS", 30),
  /** starts of the native codex binary without the node wrapper (informational) */
  nativeStarts: envInt("BENCH_NATIVE_STARTS", 10, 0),
  /** before each timed install: wait for ours to settle, a quiet gap, then `sync` (untimed, both sides); `BENCH_ISOLATE=0`: off */
  isolate: process.env["BENCH_ISOLATE"] !== "0",
  /** the quiet gap of the isolation step, in ms: long enough for either server's work after an answer */
  installGapMs: envInt("BENCH_INSTALL_GAP_MS", 50, 0),
  keep: process.env["BENCH_KEEP"] === "1"
}

const GOALS = {
  startToInitialize: 1.0,
  listFirst: 1.0,
  listRepeated: 0.25,
  install: 1.0
} as const

type MetricKey = keyof typeof GOALS

const LABELS: Record<MetricKey, string> = {
  startToInitialize: "serve start → initialize answered",
  listFirst: "plugin/list, first call after start",
  listRepeated: "plugin/list, repeated calls",
  install: "plugin/install (distinct plugins)"
}

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)

const samples: Record<MetricKey, Record<Target, Array<number>>> = {
  startToInitialize: { reference: [], ours: [] },
  listFirst: { reference: [], ours: [] },
  listRepeated: { reference: [], ours: [] },
  install: { reference: [], ours: [] }
}
const extra = {
  nativeReferenceStart: [] as Array<number>,
  /** ours: from the install's answer until its checkpoint names it (its cache tree and config.toml durable) */
  settledAfterAnswer: [] as Array<number>,
  firstInstall: { reference: [] as Array<number>, ours: [] as Array<number> },
  listResponseBytes: { reference: 0, ours: 0 },
  listResponsesIdentical: false
}

/** Alternates which target goes first, so drift (other load on the machine) hits both equally. */
const order = (i: number): ReadonlyArray<Target> => (i % 2 === 0 ? TARGETS : [...TARGETS].reverse())

const countPlugins = (result: unknown): { marketplaces: number; plugins: number } => {
  const mks = (result as { marketplaces?: Array<{ plugins?: Array<unknown> }> }).marketplaces ?? []
  return { marketplaces: mks.length, plugins: mks.reduce((n, m) => n + (m.plugins?.length ?? 0), 0) }
}

const expectListing = (target: Target, result: unknown, fixture: Fixture) => {
  const { marketplaces, plugins } = countPlugins(result)
  const want = fixture.marketplacePaths.length * fixture.pluginNames[0]!.length
  if (marketplaces !== fixture.marketplacePaths.length || plugins !== want) {
    throw new Error(`${target}: plugin/list returned ${marketplaces} marketplaces / ${plugins} plugins, expected ${fixture.marketplacePaths.length} / ${want}`)
  }
}

// ---------------------------------------------------------------------------------------------
// phases
// ---------------------------------------------------------------------------------------------

/** Phase 1: `starts` alternating cold starts per target; each: spawn → initialize, then the first plugin/list. */
const startsAndFirstList = async (fixture: Fixture) => {
  const homes = { reference: freshHome(fixture, "ref-start"), ours: freshHome(fixture, "ours-start") }
  const once = async (target: Target, record: boolean) => {
    const server = new Server(target, { ...homes[target], cwd: fixture.root })
    try {
      const init = await server.handshake()
      const first = await server.call("plugin/list", { cwds: fixture.cwds })
      expectListing(target, first.result, fixture)
      if (record) {
        samples.startToInitialize[target].push(init)
        samples.listFirst[target].push(first.ms)
      }
    } finally {
      await server.close()
    }
  }
  log("warm-up: one untimed start of each target")
  for (const target of TARGETS) await once(target, false)
  for (let i = 0; i < CONFIG.starts; i++) {
    for (const target of order(i)) await once(target, true)
    log(`starts ${i + 1}/${CONFIG.starts}`)
  }
}

/** Informational: the reference's native binary started directly (no `node` wrapper process in between). */
const nativeStarts = async (fixture: Fixture) => {
  const triple = process.arch === "arm64" ? "aarch64-unknown-linux-musl" : "x86_64-unknown-linux-musl"
  const pkg = process.arch === "arm64" ? "codex-linux-arm64" : "codex-linux-x64"
  const binary = path.resolve(`node_modules/@openai/${pkg}/vendor/${triple}/codex/codex`)
  if (process.platform !== "linux" || !fs.existsSync(binary)) {
    log(`native codex binary not found at ${binary}; skipping the informational native start row`)
    return
  }
  const home = freshHome(fixture, "ref-native")
  for (let i = 0; i < CONFIG.nativeStarts; i++) {
    const server = new Server("reference", { ...home, cwd: fixture.root }, {
      command: binary,
      args: ["app-server"],
      extraEnv: serverCommand("reference").extraEnv
    })
    try {
      extra.nativeReferenceStart.push(await server.handshake())
    } finally {
      await server.close()
    }
  }
}

/** Phase 2: both servers up at once; a discarded first list each, then alternating timed repeated lists. */
const repeatedList = async (fixture: Fixture) => {
  const servers = {
    reference: new Server("reference", { ...freshHome(fixture, "ref-list"), cwd: fixture.root }),
    ours: new Server("ours", { ...freshHome(fixture, "ours-list"), cwd: fixture.root })
  }
  try {
    const firstResults: Partial<Record<Target, string>> = {}
    for (const target of TARGETS) {
      await servers[target].handshake()
      const first = await servers[target].call("plugin/list", { cwds: fixture.cwds })
      expectListing(target, first.result, fixture)
      extra.listResponseBytes[target] = first.size
      firstResults[target] = JSON.stringify(first.result).replaceAll(/"(installed|enabled)":(true|false)/g, "")
    }
    extra.listResponsesIdentical = firstResults.reference === firstResults.ours
    // a few untimed rounds so both are past their first-call effects (JIT, caches)
    for (let i = 0; i < 3; i++) for (const target of TARGETS) await servers[target].call("plugin/list", { cwds: fixture.cwds })
    for (let i = 0; i < CONFIG.listRepeats; i++) {
      for (const target of order(i)) {
        samples.listRepeated[target].push((await servers[target].call("plugin/list", { cwds: fixture.cwds })).ms)
      }
      if ((i + 1) % 10 === 0) log(`repeated list ${i + 1}/${CONFIG.listRepeats}`)
    }
  } finally {
    await Promise.all(TARGETS.map((t) => servers[t].close()))
  }
}

/** The seq of the last record in ours' log (`ledger/events/*.jsonl`); 0 when there is none. */
const headSeq = (codexHome: string): number => {
  try {
    const dir = path.join(codexHome, "ledger", "events")
    const last = fs.readdirSync(dir).filter((name) => name.endsWith(".jsonl")).sort().at(-1)
    const lines = last === undefined ? [] : fs.readFileSync(path.join(dir, last), "utf8").trimEnd().split("\n")
    return (JSON.parse(lines.at(-1) ?? "{}") as { seq?: number }).seq ?? 0
  } catch {
    return 0
  }
}

/** The seq ours' checkpoint names (advanced once a projection's outputs are durable); 0 when unreadable. */
const checkpointSeq = (codexHome: string): number => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(codexHome, "ledger", "checkpoint.json"), "utf8")) as { seq?: number }).seq ?? 0
  } catch {
    return 0
  }
}

/**
 * Waits (untimed) until ours' checkpoint covers its log's head, i.e. until the work ours does after an answer (the
 * fsyncs of the cache tree and of config.toml's rename, then the checkpoint) is done; returns how long that took
 * from `answeredAt` (to the next millisecond: it polls every ms, up to 5 s).
 */
const waitSettled = async (codexHome: string, answeredAt: number): Promise<number> => {
  const head = headSeq(codexHome)
  const deadline = performance.now() + 5_000
  while (checkpointSeq(codexHome) < head && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1))
  return performance.now() - answeredAt
}

/** Phase 3: both servers up at once, fresh CODEX_HOMEs; the same distinct plugins installed alternately. */
const installs = async (fixture: Fixture) => {
  const homes = { reference: freshHome(fixture, "ref-install"), ours: freshHome(fixture, "ours-install") }
  const servers = {
    reference: new Server("reference", { ...homes.reference, cwd: fixture.root }),
    ours: new Server("ours", { ...homes.ours, cwd: fixture.root })
  }
  const mkCount = fixture.marketplacePaths.length
  const perMk = fixture.pluginNames[0]!.length
  if (CONFIG.installs + 1 > mkCount * perMk) throw new Error("not enough plugins for that many distinct installs")
  // spread over marketplaces: install k → marketplace k % mkCount, plugin ⌊k / mkCount⌋
  const pick = (k: number) => {
    const m = k % mkCount
    return { marketplacePath: fixture.marketplacePaths[m]!, pluginName: fixture.pluginNames[m]![Math.floor(k / mkCount)]! }
  }
  /**
   * The isolation step before each timed install, the same for both sides and untimed: the work either server does
   * after its previous answer is let finish (ours' settle is waited for, then a quiet gap lets the rest of either
   * side's follow-up work run: ours' capability feed and config watcher, whatever the reference does), so it does not
   * run during the next timed install; then `sync` writes back every dirty page, so neither side's fsyncs carry the
   * other's unsynced writes (ext4 commits one journal for the whole disk: the reference's writes, never fsynced,
   * ride on ours' next fsync otherwise).
   */
  const isolate = async () => {
    if (!CONFIG.isolate) return
    await waitSettled(homes.ours.codexHome, performance.now())
    await new Promise((resolve) => setTimeout(resolve, CONFIG.installGapMs))
    execFileSync("sync")
  }
  const install = async (target: Target, k: number) => {
    await isolate()
    const answer = await servers[target].call("plugin/install", pick(k))
    if (target === "ours" && CONFIG.isolate) extra.settledAfterAnswer.push(await waitSettled(homes.ours.codexHome, answer.doneAt))
    return answer.ms
  }
  try {
    for (const target of TARGETS) await servers[target].handshake()
    // install 0 is each server's first write (creates cache dirs, the ledger, …): reported apart, not in the median
    for (const target of TARGETS) extra.firstInstall[target].push(await install(target, 0))
    extra.settledAfterAnswer.length = 0
    for (let i = 0; i < CONFIG.installs; i++) {
      for (const target of order(i)) samples.install[target].push(await install(target, i + 1))
      if ((i + 1) % 10 === 0) log(`installs ${i + 1}/${CONFIG.installs}`)
    }
  } finally {
    await Promise.all(TARGETS.map((t) => servers[t].close()))
  }
}

// ---------------------------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------------------------

const fmtMs = (ms: number): string => (Number.isNaN(ms) ? "n/a" : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`)
const fmtRatio = (r: number): string => (Number.isNaN(r) ? "n/a" : `${r.toFixed(2)}×`)

const table = (rows: ReadonlyArray<ReadonlyArray<string>>, rightAligned: ReadonlyArray<number>): string => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  const line = (r: ReadonlyArray<string>) =>
    r.map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd()
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n")
}

const gitCommit = (): string | null => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
    return dirty === "" ? head : `${head}+dirty`
  } catch {
    return null
  }
}

const main = async () => {
  const started = performance.now()
  if (process.env["BENCH_OURS_ENTRY"] === undefined) ensureFreshBundle(log)
  const loadBefore = os.loadavg()
  log(`node ${process.version}, ${os.cpus().length} CPUs, load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`)
  log(`fixture: ${CONFIG.marketplaces} marketplaces × ${CONFIG.pluginsPerMarketplace} plugins …`)
  const fixture = createFixture({ marketplaces: CONFIG.marketplaces, pluginsPerMarketplace: CONFIG.pluginsPerMarketplace })
  log(`fixture at ${fixture.root}: ${fixture.fileCount} files, ${(fixture.byteCount / 1024).toFixed(0)} KiB`)
  const errors: Array<string> = []
  const phase = async (label: string, run: (fixture: Fixture) => Promise<void>) => {
    log(label)
    try {
      await run(fixture)
    } catch (error) {
      // keep going: the other phases still give numbers; the run exits non-zero at the end
      const message = error instanceof Error ? error.message : String(error)
      errors.push(`${label}: ${message}`)
      log(`FAILED ${label}: ${message}`)
    }
  }
  try {
    await phase("phase 1/4: starts + first plugin/list", startsAndFirstList)
    await phase("phase 2/4: repeated plugin/list", repeatedList)
    await phase("phase 3/4: plugin/install", installs)
    await phase("phase 4/4: native reference binary starts (informational)", nativeStarts)
  } finally {
    if (CONFIG.keep) log(`kept fixture at ${fixture.root}`)
    else removeFixture(fixture)
  }
  const loadAfter = os.loadavg()
  const wallSeconds = (performance.now() - started) / 1000

  const metrics = (Object.keys(GOALS) as Array<MetricKey>).map((key) => {
    const reference = summarize(samples[key].reference)
    const ours = summarize(samples[key].ours)
    const ratio = ours.median / reference.median
    return { key, label: LABELS[key], reference, ours, ratio, goal: GOALS[key], pass: ratio <= GOALS[key] }
  })

  const rows: Array<Array<string>> = [["metric", "n", "reference", "ours", "ours/ref", "goal", "result"]]
  for (const m of metrics) {
    rows.push([m.label, String(m.ours.n), fmtMs(m.reference.median), fmtMs(m.ours.median), fmtRatio(m.ratio), `≤ ${m.goal.toFixed(2)}×`, m.pass ? "PASS" : "FAIL"])
  }
  const spread: Array<Array<string>> = [["metric (ms)", "reference p25–p75 [min–max]", "ours p25–p75 [min–max]"]]
  const range = (s: Summary) => `${s.p25.toFixed(1)}–${s.p75.toFixed(1)} [${s.min.toFixed(1)}–${s.max.toFixed(1)}]`
  for (const m of metrics) spread.push([m.label, range(m.reference), range(m.ours)])
  const native = summarize(extra.nativeReferenceStart)
  const firstInstall = { reference: summarize(extra.firstInstall.reference), ours: summarize(extra.firstInstall.ours) }
  const settled = summarize(extra.settledAfterAnswer)

  const out: Array<string> = []
  out.push("")
  out.push(`plugin-ledger vs codex app-server 0.116.0 — ${CONFIG.marketplaces} marketplaces × ${CONFIG.pluginsPerMarketplace} plugins (${fixture.fileCount} files), medians`)
  out.push(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, load average ${loadBefore[0]!.toFixed(2)} → ${loadAfter[0]!.toFixed(2)}, commit ${gitCommit() ?? "?"}`)
  out.push("")
  out.push(table(rows, [1, 2, 3, 4]))
  out.push("")
  out.push(table(spread, []))
  out.push("")
  out.push("notes:")
  out.push(`- start → initialize: from just before spawn() to the initialize response line; the reference is started as`)
  out.push(`  node_modules/.bin/codex (a node wrapper that spawns the native binary). Native binary alone: ${native.n === 0 ? "not run" : `median ${fmtMs(native.median)} (n=${native.n})`}.`)
  out.push(`- plugin/list: all ${CONFIG.marketplaces} cwds (each a subdirectory of a git root holding the marketplace); response ${(extra.listResponseBytes.reference / 1024).toFixed(0)} KiB (reference) / ${(extra.listResponseBytes.ours / 1024).toFixed(0)} KiB (ours); listings identical: ${extra.listResponsesIdentical ? "yes" : "NO"}.`)
  out.push(`  "first call" = the first request after initialize in each of the ${CONFIG.starts} starts; "repeated" = after 4 untimed calls, both servers up, alternating.`)
  out.push(`- plugin/install: before ours answers, the content blobs and then the ledger event are fsynced (fdatasync), and config.toml's new bytes`)
  out.push(`  (temp file fsynced, renamed in); that fsync time IS part of the measured time. The cache tree, config.toml's directory entry and the`)
  out.push(`  checkpoint are made durable right after the answer: ${settled.n > 0 ? `${fmtMs(settled.median)} after it (median; p75 ${fmtMs(settled.p75)})` : "not measured (BENCH_ISOLATE=0)"}. The reference does not fsync.`)
  out.push(CONFIG.isolate
    ? `  Before each timed install of either side (untimed): ours' post-answer work is let finish, ${CONFIG.installGapMs} ms of quiet, then \`sync\` (BENCH_ISOLATE=0: off).`
    : `  No isolation step (BENCH_ISOLATE=0): installs follow each other at once, so each side's I/O can land in the other's timed install.`)
  out.push(`  The very first install of each server (creates cache/blob dirs) is excluded: reference ${fmtMs(firstInstall.reference.median)}, ours ${fmtMs(firstInstall.ours.median)}.`)
  out.push(`- times are client-observed (request write → response newline), alternating reference/ours; wall time ${wallSeconds.toFixed(0)} s.`)
  for (const error of errors) out.push(`- ERROR (samples of this phase are partial or missing): ${error.split("\n")[0]}`)
  out.push("")
  process.stdout.write(out.join("\n"))

  const file = path.resolve(process.env["BENCH_OUT"] ?? path.join(REPO, "bench/results/latest.json"))
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const json = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: { count: os.cpus().length, model: os.cpus()[0]?.model ?? null },
    loadAverage: { before: loadBefore, after: loadAfter },
    wallSeconds: round(wallSeconds),
    config: { ...CONFIG, fixtureFiles: fixture.fileCount, fixtureBytes: fixture.byteCount },
    commands: { reference: serverCommand("reference"), ours: serverCommand("ours") },
    metrics: Object.fromEntries(metrics.map((m) => [m.key, {
      label: m.label,
      goalRatio: m.goal,
      ratio: Math.round(m.ratio * 1000) / 1000,
      pass: m.pass,
      reference: { ...roundSummary(m.reference), samples: samples[m.key].reference.map(round) },
      ours: { ...roundSummary(m.ours), samples: samples[m.key].ours.map(round) }
    }])),
    informational: {
      nativeReferenceStartToInitialize: { ...roundSummary(native), samples: extra.nativeReferenceStart.map(round) },
      firstInstall: { reference: extra.firstInstall.reference.map(round), ours: extra.firstInstall.ours.map(round) },
      listResponseBytes: extra.listResponseBytes,
      listResponsesIdentical: extra.listResponsesIdentical,
      installIncludesFsync: true,
      installIsolation: CONFIG.isolate ? { gapMs: CONFIG.installGapMs, sync: true, waitOursSettled: true } : false,
      oursSettledAfterAnswer: { ...roundSummary(settled), samples: extra.settledAfterAnswer.map(round) }
    },
    errors
  }
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`)
  const shown = path.relative(REPO, file)
  process.stdout.write(`results: ${shown.startsWith("..") ? file : shown}\n`)
  if (errors.length > 0) process.exitCode = 1
}

const roundSummary = (s: Summary) => ({
  n: s.n,
  median: round(s.median),
  p25: round(s.p25),
  p75: round(s.p75),
  min: round(s.min),
  max: round(s.max),
  mean: round(s.mean)
})

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
