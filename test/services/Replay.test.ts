/**
 * Replay and time travel (issue 5, point 4): a recorded history of installs, reinstalls with changed content,
 * enables/disables, hand edits, a cache repair and rollbacks, run by the real engine in a temp CODEX_HOME; then
 * replayed from the log and blobs alone into fresh directories, at every point, by seq and by time, twice each,
 * with every network entry point stubbed to throw. Each replay must equal the live projection at that point byte
 * for byte (config.toml, and every path, mode and byte under plugins/cache), the two replays must be identical
 * (their ledger copies included), and the live CODEX_HOME must not change.
 */
import * as NodeFs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { afterAll, assert, beforeAll, describe, it, vi } from "@effect/vitest"
import { Effect, Result } from "effect"
import { parseConfig, removePluginTable, setPluginEnabled } from "../../src/adapters/ConfigToml.ts"
import type { EngineShape } from "../../src/services/EngineApi.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { replayLedger, type ReplayOptions, type ReplayUntil } from "../../src/services/Replay.ts"
import { ALPHA, BETA, INITIAL_CONFIG, install, makeWorld, readLog, type World, withEngine, writeFile } from "../support/LedgerWorld.ts"
import { dropBlob, storedBlobs, withoutPacks } from "../support/BlobPacks.ts"
import { snapshotTree } from "../support/Trees.ts"

interface Point {
  readonly step: string
  readonly seq: number
  readonly ts: string
  readonly config: string
  readonly cache: ReadonlyArray<string>
}

const origin = { actor: "cli", client: "replay-test", requestId: "t" } as const

const liveProjection = (world: World) => ({
  config: NodeFs.readFileSync(world.paths.configPath, "utf8") + `\n#mode ${(NodeFs.statSync(world.paths.configPath).mode & 0o777).toString(8)}`,
  cache: NodeFs.existsSync(world.paths.cacheDir) ? snapshotTree(world.paths.cacheDir, { modes: true }) : []
})
const replayedProjection = (dir: string) => {
  const config = Path.join(dir, "config.toml")
  return {
    config: NodeFs.readFileSync(config, "utf8") + `\n#mode ${(NodeFs.statSync(config).mode & 0o777).toString(8)}`,
    cache: NodeFs.existsSync(Path.join(dir, "plugins", "cache")) ? snapshotTree(Path.join(dir, "plugins", "cache"), { modes: true }) : []
  }
}

const editSource = (world: World, name: string, text: string): void => {
  writeFile(Path.join(world.repo, "plugins", name, "docs", "README.md"), `# ${name}\n${text}\n`)
  writeFile(Path.join(world.repo, "plugins", name, "docs", `${text}.md`), text)
}
/** a hand edit made with the byte-preserving editor, so a replay (which writes the adopted state) gives the same bytes */
const handEdit = (world: World, edit: (text: string) => Result.Result<string, { readonly message: string }>): void => {
  const edited = edit(NodeFs.readFileSync(world.paths.configPath, "utf8"))
  if (Result.isFailure(edited)) throw new Error(edited.failure.message)
  NodeFs.writeFileSync(world.paths.configPath, edited.success)
}

let world: World
let base: string
const points: Array<Point> = []
let replays = 0
const networkCalls: Array<string> = []

const step = (name: string, f: (engine: EngineShape) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    yield* withEngine(world, f)
    const head = readLog(world).at(-1)
    const records = NodeFs.readFileSync(Path.join(world.paths.ledgerDir, "events", "00000000000000000001.jsonl"), "utf8").trim().split("\n")
    const last: unknown = JSON.parse(records.at(-1) ?? "{}")
    const ts = typeof last === "object" && last !== null ? Reflect.get(last, "ts") : undefined
    if (head === undefined || typeof ts !== "string") throw new Error("no log")
    points.push({ step: name, seq: head.seq, ts, ...liveProjection(world) })
    // distinct timestamps, so each point can be named by time too
    yield* Effect.sleep("3 millis")
  })

const replayInto = (options: ReplayOptions) =>
  Effect.gen(function*() {
    const into = Path.join(world.root, `replay-${replays++}`)
    const view = yield* replayLedger(world.paths, { ...options, into, base })
    assert.strictEqual(view.into, into)
    return view
  })

/** every way a replay could reach the network, stubbed to throw and count */
const stubNetwork = () => {
  const fail = (what: string) => () => {
    networkCalls.push(what)
    throw new Error(`network access during replay: ${what}`)
  }
  return [
    vi.spyOn(globalThis, "fetch").mockImplementation(fail("fetch")),
    vi.spyOn(Net.Socket.prototype, "connect").mockImplementation(fail("net.Socket.connect"))
  ]
}

describe("replay", () => {
  beforeAll(async () => {
    world = makeWorld()
    base = Path.join(world.root, "base-config.toml")
    NodeFs.writeFileSync(base, INITIAL_CONFIG)
    const alphaEvents = () => readLog(world).filter((r) => r.data["pluginId"] === ALPHA)
    await Effect.runPromise(Effect.gen(function*() {
      yield* step("install alpha", (e) => install(e, world, "alpha", origin))
      yield* step("install beta", (e) => install(e, world, "beta", origin))
      editSource(world, "alpha", "second")
      yield* step("reinstall alpha, changed content", (e) => install(e, world, "alpha", origin))
      yield* step("disable alpha", (e) => e.setEnabled({ pluginId: ALPHA, enabled: false }, origin))
      handEdit(world, (t) => setPluginEnabled(t, BETA, false))
      yield* step("hand edit: beta off", (e) => e.adoptConfigEdits)
      writeFile(Path.join(world.paths.cacheDir, "market", "alpha", "local", "docs", "README.md"), "tampered\n")
      yield* step("repair alpha's cache", (e) => e.verify({ repair: true }, origin))
      yield* step("rollback alpha", (e) => e.rollback({ pluginId: ALPHA }, origin))
      yield* step("enable alpha", (e) => e.setEnabled({ pluginId: ALPHA, enabled: true }, origin))
      editSource(world, "alpha", "third")
      yield* step("reinstall alpha, third content", (e) => install(e, world, "alpha", origin))
      const second = alphaEvents().filter((r) => r.type === "PluginInstalled")[1]?.seq
      yield* step("rollback alpha to the second content", (e) => e.rollback({ pluginId: ALPHA, ...(second === undefined ? {} : { toSeq: second }) }, origin))
      yield* step("uninstall beta", (e) => e.uninstall({ pluginId: BETA }, origin))
      handEdit(world, (t) => removePluginTable(t, ALPHA))
      yield* step("hand edit: alpha's table removed", (e) => e.adoptConfigEdits)
      yield* step("install beta again", (e) => install(e, world, "beta", origin))
    }))
    const types = readLog(world).map((r) => r.type)
    for (const type of ["PluginRolledBack", "ProjectionRepaired", "PluginStateChangedExternally", "PluginUninstalled", "PluginDisabled"]) {
      assert.include(types, type, `the history records a ${type}`)
    }
    stubNetwork()
  })
  afterAll(() => {
    vi.restoreAllMocks()
    NodeFs.rmSync(world.root, { recursive: true, force: true })
  })

  it.effect("the network stub is in place (and nothing called it)", () =>
    Effect.gen(function*() {
      const attempt = yield* Effect.tryPromise({ try: () => fetch("http://127.0.0.1:9/"), catch: (e) => e }).pipe(Effect.flip)
      assert.include(String(attempt), "network access during replay")
      assert.throws(() => Net.connect(9, "127.0.0.1"), /network access during replay/)
      assert.deepStrictEqual(networkCalls.splice(0), ["fetch", "net.Socket.connect"])
    }))

  it.effect("every point, by seq, replayed twice into fresh dirs: byte-identical to the live projection then", () =>
    Effect.gen(function*() {
      const liveBefore = snapshotTree(world.paths.codexHome, { modes: true })
      for (const point of points) {
        const until: ReplayUntil = { _tag: "Seq", seq: point.seq }
        const first = yield* replayInto({ until })
        const second = yield* replayInto({ until })
        const where = `after "${point.step}" (seq ${point.seq})`
        assert.strictEqual(first.seq, point.seq, where)
        assert.deepStrictEqual(replayedProjection(first.into), { config: point.config, cache: point.cache }, where)
        // the same files but for the blob packs, each named after its writer: those hold the same blobs
        assert.deepStrictEqual(withoutPacks(snapshotTree(first.into, { modes: true })), withoutPacks(snapshotTree(second.into, { modes: true })), `${where}: two replays differ`)
        const blobsOf = (into: string) => storedBlobs(Path.join(into, "ledger", "blobs"))
        assert.deepStrictEqual(blobsOf(first.into), blobsOf(second.into), `${where}: two replays hold different blobs`)
        assert.deepStrictEqual({ ...first, into: "" }, { ...second, into: "" }, where)
      }
      assert.deepStrictEqual(snapshotTree(world.paths.codexHome, { modes: true }), liveBefore, "the live CODEX_HOME changed")
      assert.deepStrictEqual(networkCalls, [])
    }))

  it.effect("every point, by time (the last record's timestamp), equals the replay by seq", () =>
    Effect.gen(function*() {
      for (const point of points) {
        const view = yield* replayInto({ until: { _tag: "Time", time: point.ts } })
        assert.strictEqual(view.seq, point.seq, `until ${point.ts}`)
        assert.deepStrictEqual(replayedProjection(view.into), { config: point.config, cache: point.cache }, `after "${point.step}"`)
      }
      // a moment before a record's time excludes it
      const third = points[2]
      if (third === undefined) throw new Error("no third point")
      const before = new Date(Date.parse(third.ts) - 1).toISOString()
      assert.strictEqual((yield* replayInto({ until: { _tag: "Time", time: before } })).seq, points[1]?.seq)
      assert.deepStrictEqual(networkCalls, [])
    }))

  it.effect("the whole log by default; the replayed dir opens as a ledger that agrees with itself", () =>
    Effect.gen(function*() {
      const view = yield* replayInto({})
      const last = points.at(-1)
      assert.strictEqual(view.seq, last?.seq)
      assert.strictEqual(view.headSeq, last?.seq)
      assert.deepStrictEqual(replayedProjection(view.into), { config: last?.config, cache: last?.cache })
      assert.deepStrictEqual(view.plugins.map((p) => [p.pluginId, p.installed, p.enabled]), [[ALPHA, true, false], [BETA, true, true]])
      const replayedWorld: World = { ...world, paths: makeLedgerPaths({ codexHome: view.into, home: world.paths.home }) }
      const before = readLog(replayedWorld).length
      const verified = yield* withEngine(replayedWorld, (engine) => engine.verify({ repair: false }, origin))
      assert.isTrue(verified.ok, JSON.stringify(verified))
      assert.strictEqual(readLog(replayedWorld).length, before, "opening the replayed ledger recorded something")
      const why = yield* withEngine(replayedWorld, (engine) => engine.why({ pluginId: ALPHA }))
      const liveWhy = yield* withEngine(world, (engine) => engine.why({ pluginId: ALPHA }))
      assert.deepStrictEqual(why, liveWhy)
      assert.deepStrictEqual(networkCalls, [])
    }))

  it.effect("without a base config.toml, the replayed file holds the same plugin tables as the live one", () =>
    Effect.gen(function*() {
      const tablesOf = (text: string) => {
        const parsed = parseConfig(text)
        if (Result.isFailure(parsed)) throw new Error(parsed.failure.message)
        return [...parsed.success.plugins].sort(([a], [b]) => (a < b ? -1 : 1))
      }
      for (const point of points) {
        const into = Path.join(world.root, `bare-${replays++}`)
        yield* replayLedger(world.paths, { into, until: { _tag: "Seq", seq: point.seq } })
        const replayed = NodeFs.readFileSync(Path.join(into, "config.toml"), "utf8")
        assert.deepStrictEqual(tablesOf(replayed), tablesOf(point.config.slice(0, point.config.lastIndexOf("\n#mode"))), point.step)
        assert.notInclude(replayed, "model = ", "the user's own settings are not in the log")
      }
    }))

  it.effect("refuses a non-empty dir, a dir in the live CODEX_HOME, a seq past the end, a time before the log", () =>
    Effect.gen(function*() {
      const full = Path.join(world.root, "full")
      writeFile(Path.join(full, "x"), "x")
      const refusals = [
        [{ into: full }, "is not empty"],
        [{ into: Path.join(world.paths.codexHome, "past") }, "overlaps the live CODEX_HOME"],
        [{ into: Path.join(world.root, "r-late"), until: { _tag: "Seq", seq: 10_000 } }, "beyond the end of the log"],
        [{ into: Path.join(world.root, "r-early"), until: { _tag: "Time", time: "2000-01-01T00:00:00Z" } }, "no records at or before"]
      ] as const
      for (const [options, message] of refusals) {
        const error = yield* Effect.flip(replayLedger(world.paths, options))
        assert.strictEqual(error.kind, "InvalidRequest")
        assert.include(error.message, message)
      }
      assert.deepStrictEqual(NodeFs.readdirSync(full), ["x"])
      assert.isFalse(NodeFs.existsSync(Path.join(world.paths.codexHome, "past")))
      assert.isFalse(NodeFs.existsSync(Path.join(world.root, "r-late")))
    }))

  it.effect("a tree whose blobs are gone makes the replay fail clearly and leave nothing behind", () =>
    Effect.gen(function*() {
      const copy = makeWorld()
      try {
        NodeFs.cpSync(world.paths.ledgerDir, copy.paths.ledgerDir, { recursive: true })
        const treeHash = readLog(world).find((r) => r.type === "PluginInstalled")?.data["treeHash"]
        if (typeof treeHash !== "string") throw new Error("no install")
        assert.isAbove(dropBlob(copy.paths.blobsDir, treeHash), 0)
        const into = Path.join(copy.root, "r")
        const error = yield* Effect.flip(replayLedger(copy.paths, { into }))
        assert.include(error.message, `tree ${treeHash}) is not in the blob store`)
        assert.isFalse(NodeFs.existsSync(into))
      } finally {
        NodeFs.rmSync(copy.root, { recursive: true, force: true })
      }
    }))
})
