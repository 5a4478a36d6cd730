/**
 * The marketplace watcher with real files and real watches: `marketplace/changed` material for a marketplace
 * created later in folders that did not exist, and a listing cache that, once the watch covers its files, is
 * reused without `stat`s yet always equals a listing computed from scratch after each kind of edit.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, PubSub } from "effect"
import { TestClock } from "effect/testing"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { LedgerConfig } from "../../src/services/LedgerConfig.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { MarketplaceDiscovery, makeMarketplaceDiscovery } from "../../src/services/MarketplaceDiscovery.ts"
import { type MarketplaceChange, MarketplaceWatcher } from "../../src/services/MarketplaceWatcher.ts"
import { PathWatch } from "../../src/services/PathWatch.ts"

const sleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

const sandbox = Effect.acquireRelease(
  Effect.sync(() => NodeFs.realpathSync(NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "marketplace-watcher-")))),
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
)

const write = (file: string, content: string) => {
  NodeFs.mkdirSync(Path.dirname(file), { recursive: true })
  NodeFs.writeFileSync(file, content)
}

const marketplace = (name: string, plugins: ReadonlyArray<string>) =>
  JSON.stringify({ name, plugins: plugins.map((p) => ({ name: p, source: { source: "local", path: `./plugins/${p}` } })) })
const manifest = (name: string, displayName: string) => JSON.stringify({ name, interface: { displayName } })

const watcherLayer = (root: string) => {
  const paths = makeLedgerPaths({ codexHome: Path.join(root, "codex"), home: Path.join(root, "home") })
  return MarketplaceWatcher.layer.pipe(Layer.provide(Layer.mergeAll(PathWatch.layer, LedgerConfig.layer(paths))))
}

/** Waits for the next change (fails after 5 s). */
const nextChange = (subscription: PubSub.Subscription<MarketplaceChange>) =>
  PubSub.take(subscription).pipe(Effect.timeout("5 seconds"))

describe("MarketplaceWatcher", () => {
  it.live("given a cwd whose marketplace folders do not exist yet when the file is created, changed and deleted then each is published and listed", () =>
    Effect.gen(function*() {
      const root = yield* sandbox
      const cwd = Path.join(root, "ws", "deep", "project")
      const file = Path.join(cwd, ".agents", "plugins", "marketplace.json")
      yield* Effect.gen(function*() {
        const discovery = yield* MarketplaceDiscovery
        const watcher = yield* MarketplaceWatcher
        const options = { home: Path.join(root, "home"), codexHome: Path.join(root, "codex"), cwds: [cwd] }
        assert.deepStrictEqual(yield* discovery.discover(options), [])
        const subscription = yield* watcher.subscribe

        write(Path.join(cwd, "plugins", "alpha", ".codex-plugin", "plugin.json"), manifest("alpha", "Alpha"))
        write(file, marketplace("late", ["alpha"]))
        assert.deepStrictEqual(yield* nextChange(subscription), { marketplacePath: file, kind: "created" })
        const listed = yield* discovery.load(yield* discovery.discover(options))
        assert.deepStrictEqual(listed.marketplaces.map((m) => [m.name, m.plugins.map((p) => p.interface?.displayName)]), [["late", ["Alpha"]]])

        NodeFs.writeFileSync(file, marketplace("late", []))
        assert.deepStrictEqual(yield* nextChange(subscription), { marketplacePath: file, kind: "changed" })
        NodeFs.rmSync(Path.join(root, "ws"), { recursive: true })
        assert.deepStrictEqual(yield* nextChange(subscription), { marketplacePath: file, kind: "deleted" })
        assert.deepStrictEqual(yield* discovery.discover(options), [])
      }).pipe(Effect.provide(watcherLayer(root)))
    }))

  it.live("given a marketplace file a client uses when it changes between the look and the watch then that change is published, and later ones too", () =>
    Effect.gen(function*() {
      const root = yield* sandbox
      const file = Path.join(root, "elsewhere", "deep", "marketplace.json")
      write(file, marketplace("used", ["alpha"]))
      yield* Effect.gen(function*() {
        const watcher = yield* MarketplaceWatcher
        const subscription = yield* watcher.subscribe
        // the look is taken, then the install reads the file and answers; the watch comes after
        const addWatch = yield* watcher.watchFile(file)
        write(file, marketplace("used", ["alpha", "beta-and-longer"]))
        yield* addWatch
        assert.deepStrictEqual(yield* nextChange(subscription), { marketplacePath: file, kind: "changed" })
        NodeFs.rmSync(file)
        assert.deepStrictEqual(yield* nextChange(subscription), { marketplacePath: file, kind: "deleted" })
      }).pipe(Effect.provide(watcherLayer(root)))
    }))

  it.live("given $HOME's marketplace created later then it is published without any client having asked", () =>
    Effect.gen(function*() {
      const root = yield* sandbox
      const file = Path.join(root, "home", ".agents", "plugins", "marketplace.json")
      yield* Effect.gen(function*() {
        const subscription = yield* (yield* MarketplaceWatcher).subscribe
        write(file, marketplace("home", ["h"]))
        assert.deepStrictEqual(yield* nextChange(subscription), { marketplacePath: file, kind: "created" })
      }).pipe(Effect.provide(watcherLayer(root)))
    }))

  it.effect("given settled files covered by the watch then listings are reused without stats and still equal fresh ones after every edit", () =>
    Effect.gen(function*() {
      const root = yield* sandbox
      const project = Path.join(root, "project")
      NodeFs.mkdirSync(Path.join(project, ".git"), { recursive: true })
      const file = Path.join(project, ".agents", "plugins", "marketplace.json")
      write(file, marketplace("mk", ["a", "b", "c"]))
      for (const name of ["a", "b", "c"]) write(Path.join(project, "plugins", name, ".codex-plugin", "plugin.json"), manifest(name, name.toUpperCase()))
      // every file counts as settled for the cache (it keeps only results older than its settle time)
      yield* TestClock.setTime(Date.now() + 60_000)
      const options = { home: Path.join(root, "home"), codexHome: Path.join(root, "codex"), cwds: [Path.join(project, "src")] }
      const fresh = makeMarketplaceDiscovery().service

      yield* Effect.gen(function*() {
        const discovery = yield* MarketplaceDiscovery
        const watcher = yield* MarketplaceWatcher
        const both = Effect.gen(function*() {
          const watched = yield* discovery.load(yield* discovery.discover(options))
          const scratch = yield* fresh.load(yield* fresh.discover(options))
          return { watched, scratch }
        })
        const list = Effect.gen(function*() {
          const { watched, scratch } = yield* both
          assert.deepStrictEqual(watched, scratch)
          return watched
        })
        /** after an edit: the watch's event arrives within moments, and from then on the listing is the fresh one */
        const converge = Effect.gen(function*() {
          for (let i = 0; i < 500; i++) {
            const { watched, scratch } = yield* both
            if (JSON.stringify(watched) === JSON.stringify(scratch)) return watched
            yield* sleep(10)
          }
          return yield* list
        })

        yield* list
        assert.deepStrictEqual(yield* watcher.cacheStats, { kept: 4, trusted: 0 })
        yield* sleep(50) // the watches are registered off the request path
        yield* list
        assert.deepStrictEqual(yield* watcher.cacheStats, { kept: 4, trusted: 4 }, "checked once more, then trusted")

        // a manifest edited in place
        NodeFs.writeFileSync(Path.join(project, "plugins", "b", ".codex-plugin", "plugin.json"), manifest("b", "Bee"))
        const edited = yield* converge
        assert.deepStrictEqual(edited.marketplaces[0]?.plugins.map((p) => p.interface?.displayName), ["A", "Bee", "C"])

        // a manifest's directory moved away
        NodeFs.renameSync(Path.join(project, "plugins", "c", ".codex-plugin"), Path.join(project, "plugins", "c", "gone"))
        const moved = yield* converge
        assert.deepStrictEqual(moved.marketplaces[0]?.plugins.map((p) => p.interface?.displayName ?? null), ["A", "Bee", null])

        // the marketplace replaced by a rename (as editors save)
        write(`${file}.tmp`, marketplace("mk", ["a", "c", "d"]))
        NodeFs.renameSync(`${file}.tmp`, file)
        const renamed = yield* converge
        assert.deepStrictEqual(renamed.marketplaces[0]?.plugins.map((p) => p.name), ["a", "c", "d"])

        // a whole plugin directory swapped for another one
        write(Path.join(root, "elsewhere", ".codex-plugin", "plugin.json"), manifest("a", "Swapped"))
        NodeFs.renameSync(Path.join(project, "plugins", "a"), Path.join(root, "old-a"))
        NodeFs.renameSync(Path.join(root, "elsewhere"), Path.join(project, "plugins", "a"))
        const swapped = yield* converge
        assert.deepStrictEqual(swapped.marketplaces[0]?.plugins.map((p) => p.interface?.displayName ?? null), ["Swapped", null, null])
      }).pipe(Effect.provide(watcherLayer(root)))
    }))
})
