/**
 * R1 + R2: SIGKILL of a writer process at random moments while it appends, then reopen and verify; then replay
 * every command the killed writer attempted (acknowledged or not) with the same ids.
 *
 * Writers run in two lanes (a fresh ledger dir every few kills) in parallel; each lane keeps the next writer process warm
 * (modules loaded, waiting for GO), so a kill costs the random delay plus a reopen, not a process start.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { appLayer } from "../../src/cli/AppLayer.ts"
import { Engine, type EngineError, type Origin } from "../../src/services/EngineApi.ts"
import { EventLog, type LogRecord } from "../../src/services/EventLog.ts"
import { makeLedgerPaths } from "../../src/services/LedgerConfig.ts"
import { bundled } from "../support/Bundle.ts"
import { LineChild, sleep } from "../support/LineChild.ts"
import { ServeChild } from "../support/ServeChild.ts"
import { makeRandom, scaled, seedFor } from "../support/Soak.ts"
import { snapshotTree } from "../support/Trees.ts"
import { STREAM_EVENT, type StreamCommand, streamLogProblems, streamRecords } from "../support/StreamAppends.ts"

const WRITER_SOURCE = Path.join(import.meta.dirname, "children", "streamWriter.ts")
const BATCH_MAX = 3
const KILLS_PER_DIR = 10

const assertNoLockDebris = (dir: string, lane: number): void => {
  const debris = NodeFs.readdirSync(dir).filter((name) => name.startsWith("lock"))
  assert.deepStrictEqual(debris, [], `lane ${lane}: lock files left behind in ${dir}`)
}

const CommandJson = Schema.fromJsonString(Schema.Struct({
  writer: Schema.String,
  items: Schema.Array(Schema.Struct({ id: Schema.String, stream: Schema.String, n: Schema.Int }))
}))
const decodeCommand = Schema.decodeUnknownSync(CommandJson)

/** What one killed writer printed: the commands it started and the acknowledgements it gave. */
const parseWriterOutput = (lines: ReadonlyArray<string>) => {
  const tried: Array<StreamCommand> = []
  const acked = new Map<string, number>()
  let opened = false
  for (const line of lines) {
    if (line === "OPEN") opened = true
    else if (line.startsWith("TRY ")) tried.push(decodeCommand(line.slice(4)))
    else if (line.startsWith("ACK ")) {
      const [id = "", seq = ""] = line.slice(4).split(" ")
      acked.set(id, Number(seq))
    }
  }
  return { tried, acked, opened }
}

/** Reopen `dir` in this process (lock, recovery, verify), then replay `tried` with the same ids. */
const reopenAndReplay = (dir: string, tried: ReadonlyArray<StreamCommand>) =>
  Effect.gen(function*() {
    const log = yield* EventLog
    const before = yield* log.records
    const report = yield* log.verify
    const readOnly = log.readOnlyReason
    const repaired = log.tailRepair !== undefined
    let replayAppended = 0
    for (const command of tried) {
      const { appended } = yield* log.transact((records) =>
        Effect.sync(() => ({ append: streamRecords(command, records, new Date().toISOString()), value: undefined }))
      )
      replayAppended += appended.length
    }
    const after = yield* log.records
    const afterReport = yield* log.verify
    return { before, report, readOnly, repaired, replayAppended, after, afterReport }
  }).pipe(Effect.provide(EventLog.layer({ ledgerDir: dir, lockTimeoutMs: 10_000 })))

interface LaneTotals {
  kills: number
  acked: number
  durableUnacked: number
  replayed: number
  tornTails: number
  killedBeforeOpen: number
  killedWithoutAck: number
}

const runLane = async (
  root: string,
  lane: number,
  kills: number,
  seed: number,
  totals: LaneTotals
): Promise<void> => {
  const random = makeRandom(seed + lane * 7_919)
  /** every id seen committed in the current dir, with its seq: a later reopen must still have it, unchanged */
  const committed = new Map<string, number>()
  const allTried = new Set<string>()
  let dir = ""
  const writerScript = await bundled(WRITER_SOURCE)
  let warm = new LineChild(writerScript, [])
  try {
    for (let k = 0; k < kills; k++) {
      if (k % KILLS_PER_DIR === 0) {
        // a fresh ledger every few kills keeps each reopen (a full read and verify) cheap
        if (dir !== "") assertNoLockDebris(dir, lane)
        dir = Path.join(root, `lane-${lane}-${k}`)
        committed.clear()
        allTried.clear()
      }
      const child = warm
      await child.waitForLine((l) => l === "WARM", 30_000)
      if (k + 1 < kills) warm = new LineChild(writerScript, [])
      const delayMs = random.int(201)
      const writer = `l${lane}k${k}`
      const context = `lane ${lane} kill ${k} (seed ${seed}, +${delayMs} ms)`
      child.send(`GO ${JSON.stringify({ dir, writer, count: null, seed: random.int(2 ** 31), batchMax: BATCH_MAX, pauseMs: 0 })}`)
      await sleep(delayMs)
      const exit = await child.kill()
      assert.strictEqual(exit.signal, "SIGKILL", `${context}: the writer exited by itself: ${child.stderr}`)
      const { acked, opened, tried } = parseWriterOutput(child.lines)
      for (const command of tried) for (const item of command.items) allTried.add(item.id)

      const result = await Effect.runPromise(reopenAndReplay(dir, tried))
      // R1: the reopen needed no manual step and finds a sound log holding every acknowledged record
      assert.isUndefined(result.readOnly, context)
      assert.deepStrictEqual(result.report, { ok: true, records: result.before.length, problems: [] }, context)
      assert.deepStrictEqual(streamLogProblems(result.before), [], context)
      const seqOf = new Map(result.before.map((r) => [r.id, r.seq]))
      for (const [id, seq] of acked) assert.strictEqual(seqOf.get(id), seq, `${context}: acknowledged ${id}@${seq}`)
      for (const [id, seq] of committed) assert.strictEqual(seqOf.get(id), seq, `${context}: committed ${id}@${seq}`)
      // nothing that no writer attempted (no orphan, no fabricated record), and only the in-flight command is unsure
      const mine = result.before.filter((r) => r.id.startsWith(`${writer}-`))
      for (const record of result.before.slice(1)) {
        assert.isTrue(record.type === STREAM_EVENT && allTried.has(record.id), `${context}: unexpected record ${record.id} ${JSON.stringify(child.lines.slice(-5))} ${child.lines.length}`)
      }
      const inFlight = new Set(tried.at(-1)?.items.map((i) => i.id) ?? [])
      const unacked = mine.filter((r) => !acked.has(r.id))
      for (const record of unacked) assert.isTrue(inFlight.has(record.id), `${context}: ${record.id} durable, unacked, not in flight`)
      const triedIds = tried.flatMap((c) => c.items.map((i) => i.id))
      const missing = triedIds.filter((id) => !seqOf.has(id))
      for (const id of missing) assert.isTrue(inFlight.has(id), `${context}: ${id} attempted before the last command but not durable`)

      // R2: the replay of every attempted command applied exactly the missing ones, nothing twice
      assert.strictEqual(result.replayAppended, missing.length, context)
      assert.deepStrictEqual(result.afterReport, { ok: true, records: result.after.length, problems: [] }, context)
      assert.deepStrictEqual(streamLogProblems(result.after), [], context)
      const counts = new Map<string, number>()
      for (const record of result.after) counts.set(record.id, (counts.get(record.id) ?? 0) + 1)
      for (const id of triedIds) assert.strictEqual(counts.get(id), 1, `${context}: ${id} after the replay`)
      assert.deepStrictEqual(result.after.slice(0, result.before.length), result.before, context)
      for (const record of result.after) committed.set(record.id, record.seq)

      totals.kills++
      totals.acked += acked.size
      totals.durableUnacked += unacked.length
      totals.replayed += result.replayAppended
      if (result.repaired) totals.tornTails++
      if (!opened) totals.killedBeforeOpen++
      if (acked.size === 0) totals.killedWithoutAck++
    }
    assertNoLockDebris(dir, lane)
  } finally {
    await warm.kill()
  }
}

describe("R1 + R2: SIGKILL during append, reopen, replay", () => {
  it("kills a multi-stream writer at uniform random 0-200 ms: 0 acknowledged lost, 0 duplicates, chain verifies; replays apply nothing twice", async () => {
    const seed = seedFor("crash-append")
    const kills = scaled(200, 1_000)
    // two lanes keep both cores busy: the writers append flat out between kills (measured: 4 lanes are not faster)
    const lanes = 2
    const root = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "crash-append-"))
    const totals: LaneTotals = { kills: 0, acked: 0, durableUnacked: 0, replayed: 0, tornTails: 0, killedBeforeOpen: 0, killedWithoutAck: 0 }
    const started = Date.now()
    try {
      await Promise.all(
        Array.from({ length: lanes }, (_, lane) => runLane(root, lane, Math.ceil((kills - lane) / lanes), seed, totals))
      )
    } finally {
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
    console.log(
      `[crash-append] seed=${seed} kills=${totals.kills} lanes=${lanes} acknowledged=${totals.acked} ` +
        `durable-but-unacknowledged=${totals.durableUnacked} replayed-and-appended=${totals.replayed} ` +
        `torn-tails-repaired=${totals.tornTails} killed-before-open=${totals.killedBeforeOpen} ` +
        `killed-before-first-ack=${totals.killedWithoutAck} lost=0 duplicates=0 wall=${Date.now() - started}ms`
    )
    assert.strictEqual(totals.kills, kills)
    assert.isAbove(totals.acked, kills, "the writers should have acknowledged records")
  }, 900_000)
})

// ---- R2 at the Engine level: `plugin-ledger serve` killed mid-stream, then every request retried ----

const MARKET = "market"
const PLUGINS = ["alpha", "beta", "gamma"] as const
const CONFIG = "# my settings\nmodel = \"gpt-5\"\n\n[features]\nplugins = true\n"

interface ScriptStep {
  readonly method: "plugin/install" | "plugin/uninstall" | "plugin/enable" | "plugin/disable"
  readonly plugin: string
  readonly key: string
}

/** A random command sequence in which every command changes state, so each one records exactly one event. */
const makeScript = (random: ReturnType<typeof makeRandom>, length: number, trial: number): ReadonlyArray<ScriptStep> => {
  const state = new Map<string, "absent" | "enabled" | "disabled">(PLUGINS.map((p) => [p, "absent"]))
  const steps: Array<ScriptStep> = []
  for (let i = 0; i < length; i++) {
    const plugin = random.pick(PLUGINS)
    const now = state.get(plugin) ?? "absent"
    const options: ReadonlyArray<ScriptStep["method"]> = now === "absent"
      ? ["plugin/install"]
      : now === "enabled"
      ? ["plugin/disable", "plugin/uninstall", "plugin/install"]
      : ["plugin/enable", "plugin/uninstall", "plugin/install"]
    const method = random.pick(options)
    state.set(plugin, method === "plugin/uninstall" ? "absent" : method === "plugin/disable" ? "disabled" : "enabled")
    steps.push({ method, plugin, key: `t${trial}-step${i}-${random.int(1e9)}` })
  }
  return steps
}

interface World {
  readonly root: string
  readonly marketplacePath: string
  readonly userHome: string
}

const writeFile = (path: string, content: string): void => {
  NodeFs.mkdirSync(Path.dirname(path), { recursive: true })
  NodeFs.writeFileSync(path, content)
}

const makeWorld = (): World => {
  const root = NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "crash-serve-")))
  const repo = Path.join(root, "repo")
  for (const name of PLUGINS) {
    writeFile(Path.join(repo, "plugins", name, ".codex-plugin", "plugin.json"), JSON.stringify({ name, version: "1.0.0" }))
    writeFile(Path.join(repo, "plugins", name, "skills", "hello", "SKILL.md"), `---\nname: hello\ndescription: ${name} says hello\n---\n`)
    writeFile(Path.join(repo, "plugins", name, "README.md"), `# ${name}\n`)
  }
  const marketplacePath = Path.join(repo, ".agents", "plugins", "marketplace.json")
  writeFile(marketplacePath, JSON.stringify({
    name: MARKET,
    plugins: PLUGINS.map((name) => ({ name, source: { source: "local", path: `./plugins/${name}` } }))
  }))
  const userHome = Path.join(root, "userhome")
  NodeFs.mkdirSync(userHome)
  return { root, marketplacePath, userHome }
}

const makeHome = (world: World, name: string): string => {
  const home = Path.join(world.root, name)
  writeFile(Path.join(home, "config.toml"), CONFIG)
  return home
}

const paramsOf = (world: World, step: ScriptStep): Record<string, string> =>
  step.method === "plugin/install"
    ? { marketplacePath: world.marketplacePath, pluginName: step.plugin, idempotencyKey: step.key }
    : { pluginId: `${step.plugin}@${MARKET}`, idempotencyKey: step.key }

/** The same script run once, in this process, on a fresh home: what the crashed-and-retried home must equal. */
const cleanRun = (world: World, codexHome: string, script: ReadonlyArray<ScriptStep>) =>
  Engine.use((engine) =>
    Effect.forEach(script, (step, index): Effect.Effect<unknown, EngineError> => {
      const origin: Origin = { actor: "rpc", requestId: String(index), client: "durability", idempotencyKey: step.key }
      const pluginId = `${step.plugin}@${MARKET}`
      switch (step.method) {
        case "plugin/install":
          return engine.install({ marketplacePath: world.marketplacePath, pluginName: step.plugin }, origin)
        case "plugin/uninstall":
          return engine.uninstall({ pluginId }, origin)
        case "plugin/enable":
        case "plugin/disable":
          return engine.setEnabled({ pluginId, enabled: step.method === "plugin/enable" }, origin)
      }
    })
  ).pipe(Effect.provide(appLayer(makeLedgerPaths({ codexHome, home: world.userHome }))))

const pluginEventsOf = (records: ReadonlyArray<LogRecord>) =>
  records.filter((r) => r.type !== "LogCreated" && r.type !== "LogTailRepaired").map((r) => ({
    id: r.id,
    type: r.type,
    pluginId: typeof r.data === "object" && r.data !== null ? Reflect.get(r.data, "pluginId") : undefined
  }))

const readLog = (codexHome: string) =>
  EventLog.use((log) => Effect.all({ records: log.records, report: log.verify })).pipe(
    Effect.provide(EventLog.layer({ ledgerDir: Path.join(codexHome, "ledger") }))
  )

const resultOf = (response: unknown): unknown =>
  typeof response === "object" && response !== null && "result" in response ? Reflect.get(response, "result") : undefined

describe("R2: plugin-ledger serve killed mid-stream, every request retried with its idempotencyKey", () => {
  it("applies nothing twice: one event per key; config.toml and cache equal a clean run; acked answers repeat", async () => {
    const seed = seedFor("crash-serve")
    const random = makeRandom(seed)
    const trials = scaled(10, 100)
    const world = makeWorld()
    const started = Date.now()
    let acked = 0
    let retried = 0
    try {
      for (let trial = 0; trial < trials; trial++) {
        const script = makeScript(random, 8 + random.int(9), trial)
        const context = `trial ${trial} (seed ${seed})`
        const home = makeHome(world, `home-${trial}`)
        const env = { codexHome: home, home: world.userHome, cwd: world.root }
        // the first server gets the whole script at once and is killed after a random number of answers
        const first = await ServeChild.start(env)
        const killAfter = random.int(script.length + 1)
        script.forEach((step, index) => first.send({ id: index, method: step.method, params: paramsOf(world, step) }))
        if (killAfter > 0) await first.waitFor(killAfter - 1)
        await sleep(random.int(15))
        await first.process.kill()
        const firstAnswers = new Map(script.map((_, index) => [index, first.responseTo(index)] as const))
        assert.deepStrictEqual(first.nonProtocol, [], context)
        // a fresh server gets every request again, in order, with the same keys
        const second = await ServeChild.start(env)
        script.forEach((step, index) => second.send({ id: index, method: step.method, params: paramsOf(world, step) }))
        await second.waitFor(script.length - 1)
        const exit = await second.close()
        assert.deepStrictEqual(exit, { code: 0, signal: null }, `${context}: ${second.process.stderr}`)
        assert.deepStrictEqual(second.nonProtocol, [], context)

        const cleanHome = makeHome(world, `clean-${trial}`)
        const cleanAnswers = await Effect.runPromise(cleanRun(world, cleanHome, script))
        const { records, report } = await Effect.runPromise(readLog(home))
        assert.isTrue(report.ok, `${context}: ${report.problems.join("; ")}`)
        const repaired = records.some((r) => r.type === "LogTailRepaired")
        script.forEach((step, index) => {
          const answer = resultOf(second.responseTo(index))
          assert.isDefined(answer, `${context}: step ${index} ${step.method} failed: ${JSON.stringify(second.responseTo(index))}`)
          const before = firstAnswers.get(index)
          if (before !== undefined) {
            acked++
            assert.deepStrictEqual(answer, resultOf(before), `${context}: the retry of acknowledged step ${index} answered differently`)
          }
          if (!repaired) assert.deepStrictEqual(answer, JSON.parse(JSON.stringify(cleanAnswers[index])), `${context}: step ${index}`)
          // exactly one event per key
          assert.deepStrictEqual(records.filter((r) => r.id.startsWith(`${step.key}:`)).map((r) => r.id), [`${step.key}:0`], context)
        })
        retried += script.length
        const clean = await Effect.runPromise(readLog(cleanHome))
        assert.deepStrictEqual(pluginEventsOf(records), pluginEventsOf(clean.records), context)
        assert.strictEqual(NodeFs.readFileSync(Path.join(home, "config.toml"), "utf8"), NodeFs.readFileSync(Path.join(cleanHome, "config.toml"), "utf8"), context)
        const cache = (h: string) => (NodeFs.existsSync(Path.join(h, "plugins")) ? snapshotTree(Path.join(h, "plugins")) : [])
        assert.deepStrictEqual(cache(home), cache(cleanHome), context)
      }
    } finally {
      NodeFs.rmSync(world.root, { recursive: true, force: true })
    }
    console.log(
      `[crash-serve] seed=${seed} trials=${trials} requests-retried=${retried} acknowledged-before-kill=${acked} ` +
        `applied-twice=0 wall=${Date.now() - started}ms`
    )
  }, 900_000)
})
