/**
 * Rollback (issue 5, point 5) through the real engine: an earlier content version restored byte for byte from the
 * blob store as an audited event, refusals that change nothing, an idempotent retry, and a replay after rollbacks
 * equal to the live projection.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { EngineShape, Origin } from "../../src/services/EngineApi.ts"
import { replayLedger } from "../../src/services/Replay.ts"
import { ALPHA, BETA, INITIAL_CONFIG, install, pluginCacheDir, readConfig, readLog, type World, withEngine, worldScoped, writeFile } from "../support/LedgerWorld.ts"
import { dropBlob } from "../support/BlobPacks.ts"
import { snapshotTree } from "../support/Trees.ts"

const origin: Origin = { actor: "rpc", client: "rollback-test", requestId: "9" }
const cacheOf = (world: World) =>
  NodeFs.existsSync(pluginCacheDir(world, "alpha")) ? snapshotTree(pluginCacheDir(world, "alpha"), { modes: true }) : []
const setContent = (world: World, text: string): void => {
  writeFile(Path.join(world.repo, "plugins", "alpha", "docs", "README.md"), `# alpha\n${text}\n`)
  writeFile(Path.join(world.repo, "plugins", "alpha", "docs", `${text}.md`), text)
}

/** alpha installed three times with different content; returns the cache after each install and their seqs */
const threeVersions = (world: World, engine: EngineShape) =>
  Effect.gen(function*() {
    const caches: Array<ReadonlyArray<string>> = []
    for (const text of ["one", "two", "three"]) {
      setContent(world, text)
      yield* install(engine, world, "alpha", origin)
      caches.push(cacheOf(world))
    }
    const seqs = readLog(world).filter((r) => r.type === "PluginInstalled" && r.data["pluginId"] === ALPHA).map((r) => r.seq)
    return { caches, seqs }
  })

const refusal = (world: World, run: Effect.Effect<unknown, { readonly message: string; readonly kind: string }>, message: string) =>
  Effect.gen(function*() {
    const log = readLog(world).length
    const cache = cacheOf(world)
    const config = readConfig(world)
    const error = yield* Effect.flip(run)
    assert.strictEqual(error.kind, "InvalidRequest")
    assert.include(error.message, message)
    assert.strictEqual(readLog(world).length, log, "a refused rollback recorded something")
    assert.deepStrictEqual(cacheOf(world), cache)
    assert.strictEqual(readConfig(world), config)
  })

describe("rollback", () => {
  it.effect("restores the install before the current content, byte for byte, as an audited event; again walks further back", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          const { caches, seqs } = yield* threeVersions(world, engine)
          assert.notDeepEqual(caches[1], caches[2])
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, origin)
          const config = readConfig(world)
          const first = yield* engine.rollback({ pluginId: ALPHA }, origin)
          assert.deepStrictEqual(cacheOf(world), caches[1])
          assert.strictEqual(readConfig(world), config, "a rollback leaves config.toml (disabled) as it is")
          assert.strictEqual(first.changed, true)
          assert.strictEqual(first.restoredFromSeq, seqs[1])
          const event = readLog(world).at(-1)
          assert.strictEqual(event?.type, "PluginRolledBack")
          assert.strictEqual(event?.seq, first.seq)
          assert.deepStrictEqual(event?.data["cause"], { actor: "rpc", requestId: "9", client: "rollback-test" })
          assert.strictEqual(event?.data["toSeq"], seqs[1])
          const second = yield* engine.rollback({ pluginId: ALPHA }, origin)
          assert.deepStrictEqual(cacheOf(world), caches[0])
          assert.strictEqual(second.restoredFromSeq, seqs[0])
          yield* refusal(world, engine.rollback({ pluginId: ALPHA }, origin), "has no earlier content version")
          // audited: history and why describe it
          const history = yield* engine.history({ pluginId: ALPHA })
          assert.strictEqual(history.filter((e) => e.type === "PluginRolledBack").length, 2)
          const why = yield* engine.why({ pluginId: ALPHA })
          assert.isTrue(why.because.some((line) => line.startsWith(`content: rolled back to the content of seq ${seqs[0]}`)), why.because.join("\n"))
          assert.strictEqual(why.state.installed, true)
          assert.strictEqual(why.state.enabled, false)
          // verify checks the cache against the restored content, not the install's
          const verified = yield* engine.verify({ repair: false }, origin)
          assert.isTrue(verified.ok, JSON.stringify(verified.plugins))
        }))
    }))

  it.effect("--to <seq> restores the content the plugin had then; the same content again records nothing", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          const { caches, seqs } = yield* threeVersions(world, engine)
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, origin)
          // the content alpha had after the first install
          const toSeq = seqs[0] ?? 0
          const view = yield* engine.rollback({ pluginId: ALPHA, toSeq }, origin)
          assert.deepStrictEqual(cacheOf(world), caches[0])
          assert.strictEqual(view.restoredFromSeq, seqs[0])
          const log = readLog(world).length
          const again = yield* engine.rollback({ pluginId: ALPHA, toSeq }, origin)
          assert.deepStrictEqual({ changed: again.changed, seq: again.seq }, { changed: false, seq: null })
          assert.strictEqual(readLog(world).length, log)
          const forward = yield* engine.rollback({ pluginId: ALPHA, toSeq: seqs[2] ?? 0 }, origin)
          assert.deepStrictEqual(cacheOf(world), caches[2])
          assert.strictEqual(forward.changed, true)
        }))
    }))

  it.effect("an idempotency key makes a retry change nothing twice and give the same answer", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          const { caches } = yield* threeVersions(world, engine)
          const keyed: Origin = { ...origin, idempotencyKey: "rb-1" }
          const first = yield* engine.rollback({ pluginId: ALPHA }, keyed)
          const log = readLog(world).length
          const retry = yield* engine.rollback({ pluginId: ALPHA }, keyed)
          assert.deepStrictEqual(retry, first)
          assert.strictEqual(readLog(world).length, log)
          assert.deepStrictEqual(cacheOf(world), caches[1])
          yield* refusal(world, engine.setEnabled({ pluginId: ALPHA, enabled: false }, keyed), "already used for a different command")
        }))
      // and from another process lifetime
      const again = yield* withEngine(world, (engine) => engine.rollback({ pluginId: ALPHA }, { ...origin, idempotencyKey: "rb-1" }))
      assert.strictEqual(again.changed, true)
      assert.strictEqual(readLog(world).filter((r) => r.type === "PluginRolledBack").length, 1)
    }))

  it.effect("refused when not installed, with no earlier version, when the blobs are gone, and for a seq it was not installed at", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* refusal(world, engine.rollback({ pluginId: ALPHA }, origin), "is not installed")
          yield* refusal(world, engine.rollback({ pluginId: "nonsense" }, origin), "invalid plugin key")
          yield* install(engine, world, "beta", origin)
          const { seqs } = yield* threeVersions(world, engine)
          yield* engine.uninstall({ pluginId: BETA }, origin)
          yield* refusal(world, engine.rollback({ pluginId: BETA }, origin), "is not installed")
          yield* refusal(world, engine.rollback({ pluginId: ALPHA, toSeq: 1 }, origin), "was not installed at seq 1")
          yield* refusal(world, engine.rollback({ pluginId: ALPHA, toSeq: 10_000 }, origin), "beyond the end of the log")
          // the second version's tree blob is gone (a pruned blob store)
          const treeHash = readLog(world).find((r) => r.seq === seqs[1])?.data["treeHash"]
          if (typeof treeHash !== "string") throw new Error("no tree hash")
          assert.isAbove(dropBlob(world.paths.blobsDir, treeHash), 0)
          yield* refusal(world, engine.rollback({ pluginId: ALPHA }, origin), "is no longer in the blob store")
          // only alpha's first version left to go back to, with --to
          yield* engine.rollback({ pluginId: ALPHA, toSeq: seqs[0] ?? 0 }, origin)
        }))
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          const one = yield* install(engine, world, "beta", origin)
          assert.strictEqual(one.authPolicy, "ON_INSTALL")
          yield* refusal(world, engine.rollback({ pluginId: BETA }, origin), "has no earlier content version")
        }))
    }))

  it.effect("a replay after rollbacks equals the live projection", () =>
    Effect.gen(function*() {
      const world = yield* worldScoped
      yield* withEngine(world, (engine) =>
        Effect.gen(function*() {
          yield* threeVersions(world, engine)
          yield* engine.rollback({ pluginId: ALPHA }, origin)
          yield* engine.setEnabled({ pluginId: ALPHA, enabled: false }, origin)
          yield* engine.rollback({ pluginId: ALPHA }, origin)
        }))
      const base = Path.join(world.root, "base.toml")
      NodeFs.writeFileSync(base, INITIAL_CONFIG)
      const view = yield* replayLedger(world.paths, { into: Path.join(world.root, "replayed"), base })
      assert.strictEqual(NodeFs.readFileSync(Path.join(view.into, "config.toml"), "utf8"), readConfig(world))
      assert.deepStrictEqual(snapshotTree(Path.join(view.into, "plugins", "cache"), { modes: true }), snapshotTree(world.paths.cacheDir, { modes: true }))
    }))
})
