/**
 * Hand edits of config.toml, end to end on real files: adopted as `PluginStateChangedExternally` (actor
 * `config-edit`, before/after, the file's hash) at start-up, before a command, and on demand (what the watcher
 * calls); comment-only edits adopt nothing; an unparsable file gives one `ConfigUnreadable` per distinct content
 * and is never rewritten.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { ConfigObservation } from "../../src/domain/ConfigAdoption.ts"
import { PluginInstalled } from "../../src/domain/Events.ts"
import { evolve, initialState, type PluginState } from "../../src/domain/PluginState.ts"
import { adoptionOf } from "../../src/services/ConfigAdopter.ts"
import { ALPHA, BETA, install, readConfig, readLog, withEngine, worldScoped, writeFile } from "../support/LedgerWorld.ts"

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")
const typesAfter = (log: ReadonlyArray<{ readonly seq: number; readonly type: string }>, seq: number) =>
  log.filter((r) => r.seq > seq).map((r) => r.type)

describe("adopting hand edits of config.toml", () => {
  it.live("a flipped `enabled` is adopted at start-up with before, after, hash and actor config-edit; the file is not rewritten", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => install(engine, world, "alpha"))
      const head = readLog(world).at(-1)?.seq ?? 0
      const edited = readConfig(world).replace("enabled = true", "enabled = false  # off for now")
      writeFile(world.paths.configPath, edited)
      const inode = NodeFs.statSync(world.paths.configPath).ino
      const why = yield* withEngine(world, (engine) => engine.why({ pluginId: ALPHA }))
      const log = readLog(world)
      assert.deepStrictEqual(typesAfter(log, head), ["PluginStateChangedExternally"])
      const event = log.at(-1)
      assert.deepStrictEqual(event?.data, {
        pluginId: ALPHA,
        before: { configured: true, enabled: true },
        after: { configured: true, enabled: false },
        configHash: sha256(edited),
        cause: { actor: "config-edit" }
      })
      assert.strictEqual(readConfig(world), edited, "the hand-edited bytes stay")
      assert.strictEqual(NodeFs.statSync(world.paths.configPath).ino, inode, "not even rewritten with the same bytes")
      assert.strictEqual(why.state.enabled, false)
      assert.match(why.because.join("\n"), /disabled: config.toml edited by hand: enabled true -> false by config-edit/)
      // a second start sees nothing new
      yield* withEngine(world, () => Effect.void)
      assert.strictEqual(readLog(world).length, log.length)
    }))

  it.live("comment-only, reordering and unrelated edits adopt nothing", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => Effect.all([install(engine, world, "alpha"), install(engine, world, "beta")]))
      const before = readLog(world).length
      const text = readConfig(world)
      writeFile(world.paths.configPath, `# a new comment\n${text.replace("model = \"gpt-5\"", "model = \"o4\"")}\n# trailing\n`)
      const adopted = yield* withEngine(world, (engine) => engine.adoptConfigEdits)
      assert.deepStrictEqual(adopted, [])
      assert.strictEqual(readLog(world).length, before)
    }))

  it.live("a deleted table and a table added by hand are both adopted; later commands decide on the adopted state", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => install(engine, world, "alpha"))
      const head = readLog(world).at(-1)?.seq ?? 0
      writeFile(world.paths.configPath, `${readConfig(world).replace(/\n\[plugins\."alpha@market"\]\nenabled = true\n/, "\n")}[plugins."${BETA}"]\nenabled = false\n`)
      const result = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          // the enable decides on the adopted state: the table was removed, so enabling writes it back
          const toggled = yield* engine.setEnabled({ pluginId: ALPHA, enabled: true }, { actor: "cli" })
          return { toggled, history: yield* engine.history({ actor: "config-edit" }) }
        }))
      assert.deepStrictEqual(typesAfter(readLog(world), head), ["PluginStateChangedExternally", "PluginStateChangedExternally", "PluginEnabled"])
      assert.deepStrictEqual(result.history.map((e) => e.pluginId), [ALPHA, BETA])
      assert.strictEqual(result.toggled.changed, true)
      assert.strictEqual(result.toggled.seq, head + 3, "the answer names the command's own event, not the adopted ones")
      assert.include(readConfig(world), `[plugins."${ALPHA}"]\nenabled = true`)
    }))

  it.live("an edit made while a command runs in the same process is adopted inside that command's transaction first", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      const log = yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          yield* install(engine, world, "beta")
          writeFile(world.paths.configPath, readConfig(world).replace(`[plugins."${BETA}"]\nenabled = true`, `[plugins."${BETA}"]\nenabled = false`))
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "cli" })
          return readLog(world)
        }))
      assert.deepStrictEqual(log.slice(-2).map((r) => [r.type, r.data["pluginId"]]), [
        ["PluginStateChangedExternally", BETA],
        ["PluginDisabled", ALPHA]
      ])
    }))

  it.live("an unparsable config.toml: one ConfigUnreadable per distinct content, never rewritten, commands refused", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => install(engine, world, "alpha"))
      const head = readLog(world).at(-1)?.seq ?? 0
      const broken = `${readConfig(world)}[oops\n`
      writeFile(world.paths.configPath, broken)
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* engine.adoptConfigEdits, [], "already recorded at start-up")
          const refused = yield* Effect.flip(engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "cli" }))
          assert.strictEqual(refused.kind, "Internal")
        }))
      yield* withEngine(world, () => Effect.void)
      const log = readLog(world)
      assert.deepStrictEqual(typesAfter(log, head), ["ConfigUnreadable"])
      assert.strictEqual(log.at(-1)?.data["configHash"], sha256(broken))
      assert.match(String(log.at(-1)?.data["message"]), /^failed to reload config: .*config\.toml:\d+:\d+: /)
      assert.strictEqual(readConfig(world), broken, "byte-identical")
      // different broken content: recorded again; fixed: the ledger carries on (nothing else differs)
      writeFile(world.paths.configPath, `${broken}more garbage [\n`)
      yield* withEngine(world, () => Effect.void)
      writeFile(world.paths.configPath, broken.replace("[oops\n", ""))
      yield* withEngine(world, (engine) => engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "cli" }))
      assert.deepStrictEqual(typesAfter(readLog(world), head), ["ConfigUnreadable", "ConfigUnreadable", "PluginDisabled"])
    }))

  it.live("a mistyped `enabled` counts as unreadable (Codex would refuse the file) and is never rewritten", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) => install(engine, world, "alpha"))
      const mistyped = readConfig(world).replace("enabled = true", "enabled = \"yes\"")
      writeFile(world.paths.configPath, mistyped)
      yield* withEngine(world, () => Effect.void)
      assert.strictEqual(readLog(world).at(-1)?.type, "ConfigUnreadable")
      assert.strictEqual(readConfig(world), mistyped)
    }))
})

describe("catch-up after a crash never undoes a hand edit", () => {
  it.live("a lagging event is projected again, except onto a table the user edited by hand meanwhile, which is adopted", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* install(engine, world, "alpha")
          yield* install(engine, world, "beta")
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, { actor: "cli" })
          yield* engine.setEnabled({ pluginId: BETA, enabled: false }, { actor: "cli" })
        }))
      const log = readLog(world)
      const segment = Path.join(world.paths.ledgerDir, "events", NodeFs.readdirSync(Path.join(world.paths.ledgerDir, "events"))[0] ?? "")
      const betaInstall = log.find((r) => r.type === "PluginInstalled" && r.data["pluginId"] === BETA)?.seq ?? 0
      const h = String(JSON.parse(NodeFs.readFileSync(segment, "utf8").split("\n")[betaInstall - 1] ?? "{}").h)
      // as if the process died after projecting both disables but before recording that (the checkpoint still at
      // beta's install); meanwhile the user deleted alpha's table by hand and beta's projection was lost
      NodeFs.writeFileSync(world.paths.checkpointPath, JSON.stringify({ projectorVersion: 1, seq: betaInstall, h, configHash: null }))
      const text = readConfig(world)
        .replace(`\n[plugins."${ALPHA}"]\nenabled = false\n`, "")
        .replace(`[plugins."${BETA}"]\nenabled = false`, `[plugins."${BETA}"]\nenabled = true`)
      writeFile(world.paths.configPath, text)
      const why = yield* withEngine(world, (engine) => engine.why({ pluginId: ALPHA }))
      const config = readConfig(world)
      assert.notInclude(config, `[plugins."${ALPHA}"]`, "the hand edit survives the catch-up")
      assert.include(config, `[plugins."${BETA}"]\nenabled = false\n`, "beta's lagging disable is projected again")
      const adopted = readLog(world).slice(log.length)
      assert.deepStrictEqual(adopted.map((r) => [r.type, r.data["pluginId"], r.data["after"]]), [
        ["PluginStateChangedExternally", ALPHA, { configured: false, enabled: null }]
      ])
      assert.deepStrictEqual([why.state.installed, why.state.configured, why.state.enabled], [true, false, false])
    }))
})

describe("adoptionOf", () => {
  const installed = (pluginId: string, seq: number, state: PluginState = initialState): PluginState =>
    evolve(state, new PluginInstalled({
      pluginId,
      pluginName: pluginId.split("@")[0] ?? "",
      marketplaceName: "m",
      marketplacePath: "/r/.agents/plugins/marketplace.json",
      sourcePath: "/r/plugins/x",
      version: "local",
      treeHash: "a".repeat(64),
      installPolicy: "AVAILABLE",
      authPolicy: "ON_INSTALL",
      cause: { actor: "rpc" }
    }), seq)
  const readable = (tables: ReadonlyMap<string, { readonly enabled: boolean | undefined }>): ConfigObservation =>
    ({ _tag: "Readable", hash: "h".repeat(64), tables })

  it("answers again for every state and tables, also right after finding the same ones in agreement", () => {
    const state = installed("a@m", 1)
    const agreeing = new Map([["a@m", { enabled: true }]])
    const flipped = new Map([["a@m", { enabled: false }]])
    assert.deepStrictEqual(adoptionOf(state, 1, readable(agreeing), "t").records, [])
    assert.deepStrictEqual(adoptionOf(state, 1, readable(agreeing), "t").records, [])
    // another tables map (a hand edit), the same state: adopted
    assert.deepStrictEqual(adoptionOf(state, 1, readable(flipped), "t").records.map((r) => r.type), ["PluginStateChangedExternally"])
    // the tables found in agreement before, another state (one more plugin, not in the file): adopted
    const more = installed("b@m", 2, state)
    assert.deepStrictEqual(adoptionOf(more, 2, readable(agreeing), "t").records.map((r) => r.type), ["PluginStateChangedExternally"])
    assert.deepStrictEqual(adoptionOf(state, 1, readable(agreeing), "t").records, [])
  })
})
