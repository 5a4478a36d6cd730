/**
 * The discovery snapshot between processes: each "process" here is a new discovery over the same ledger directory.
 * Whatever happened to the files or to the snapshot since it was written, a listing through it must be byte for byte
 * a fresh read's; when nothing happened, every entry is taken over and the snapshot is not written again. Edits are
 * made so that timestamps alone cannot show them (same size, mtime put back: only ctime tells), and the clock is
 * ahead so that every file counts as settled.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path } from "effect"
import type { Scope } from "effect"
import * as NodeFs from "node:fs"
import { codeStamp, DISCOVERY_SNAPSHOT_FILE, readSnapshotFile } from "../../src/adapters/DiscoverySnapshotFile.ts"
import { makeDiscoverySnapshot } from "../../src/services/DiscoverySnapshot.ts"
import { type DiscoverOptions, type LoadResult, makeMarketplaceDiscovery } from "../../src/services/MarketplaceDiscovery.ts"
import { SETTLE_MS } from "../../src/services/MarketplaceLoader.ts"
import { type Layout, materializeLayout } from "../support/Trees.ts"
import { coarsen, editInPlace } from "../support/SameSizeEdit.ts"

const FILE = ".agents/plugins/marketplace.json"
const entry = (name: string, path = `./plugins/${name}`) => ({ name, source: { source: "local", path }, category: name === "b" ? "Design" : undefined })
const manifest = (displayName: string) => JSON.stringify({ name: "p", interface: { displayName, logo: "./logo.png", defaultPrompt: "Go" } })

/** A workspace `repo` (a git root) with marketplace `m`: plugins a (with a manifest), b (none yet), c (invalid manifest). */
const LAYOUT: Layout = {
  dirs: ["repo/.git", "repo/src", "codex/ledger", "home"],
  files: {
    [`repo/${FILE}`]: JSON.stringify({ name: "m", interface: { displayName: "M" }, plugins: [entry("a"), entry("b"), entry("c")] }),
    "repo/plugins/a/.codex-plugin/plugin.json": manifest("One"),
    "repo/plugins/c/.codex-plugin/plugin.json": "{\"name\":5}",
    [`codex/.tmp/plugins/${FILE}`]: JSON.stringify({ name: "curated", plugins: [entry("k")] }),
    "codex/.tmp/plugins/plugins/k/.codex-plugin/plugin.json": manifest("Curated")
  }
}

const optionsFor = (root: string, codexHome = `${root}/codex`): DiscoverOptions => ({ home: `${root}/home`, codexHome, cwds: [`${root}/repo/src`] })

/** the write time the snapshot's header names (undefined: no snapshot file) */
const writtenAt = (ledgerDir: string): number | undefined => {
  const file = `${ledgerDir}/${DISCOVERY_SNAPSHOT_FILE}`
  let head: unknown
  try {
    head = JSON.parse(NodeFs.readFileSync(file, "utf8").split("\n")[0] ?? "")
  } catch {
    return undefined
  }
  return typeof head === "object" && head !== null && "writtenAtMs" in head && typeof head.writtenAtMs === "number" ? head.writtenAtMs : undefined
}

let clock = Date.now() + 60_000

/**
 * One process's listing through the snapshot in `ledgerDir` (its write awaited), checked byte for byte against a
 * fresh read; `rewritten`: whether it wrote the snapshot again (false: every entry was taken over).
 */
const listAsNewProcess = (options: DiscoverOptions, ledgerDir = `${options.codexHome}/ledger`) =>
  Effect.promise(async () => {
    clock += 1_000
    const now = clock
    const before = writtenAt(ledgerDir)
    const snapshot = makeDiscoverySnapshot(ledgerDir, SETTLE_MS, () => now)
    const discovery = makeMarketplaceDiscovery(undefined, snapshot)
    const loaded = discovery.loadNow(discovery.discoverNow(options), now)
    await snapshot.idle()
    const plain = makeMarketplaceDiscovery()
    const fresh = plain.loadNow(plain.discoverNow(options), now)
    assert.strictEqual(JSON.stringify(loaded), JSON.stringify(fresh))
    assert.deepStrictEqual(loaded, fresh)
    return { loaded, rewritten: writtenAt(ledgerDir) !== before }
  })

const displayNames = (loaded: LoadResult) => loaded.marketplaces.flatMap((m) => m.plugins.map((p) => p.interface?.displayName ?? null))

const snapshotTest = (name: string, body: (root: string) => Effect.Effect<void, never, FileSystem.FileSystem | Path.Path | Scope.Scope>) =>
  it.effect(name, () =>
    materializeLayout(LAYOUT, "discovery-snapshot-").pipe(Effect.flatMap(body), Effect.scoped, Effect.provide(NodeServices.layer)))

describe("DiscoverySnapshot", () => {
  snapshotTest("given nothing changed then a new process takes every entry over, negative ones too, and writes nothing", (root) =>
    Effect.gen(function*() {
      const first = yield* listAsNewProcess(optionsFor(root))
      assert.isTrue(first.rewritten)
      assert.deepStrictEqual(displayNames(first.loaded), ["Curated", "One", null, null])
      const stored = readSnapshotFile(`${root}/codex/ledger/${DISCOVERY_SNAPSHOT_FILE}`, clock, SETTLE_MS)?.objects()
      assert.deepStrictEqual(stored?.marketplaces.map((m) => m.key).sort(), [`${root}/codex/.tmp/plugins/${FILE}`, `${root}/repo/${FILE}`])
      assert.deepStrictEqual(stored?.manifests.map((m) => [m.key, m.value?.displayName ?? null]).sort(), [
        [`${root}/codex/.tmp/plugins/plugins/k`, "Curated"],
        [`${root}/repo/plugins/a`, "One"],
        [`${root}/repo/plugins/b`, null],
        [`${root}/repo/plugins/c`, null]
      ])
      assert.isFalse((yield* listAsNewProcess(optionsFor(root))).rewritten)
      assert.isFalse((yield* listAsNewProcess(optionsFor(root))).rewritten)
    }))

  snapshotTest("given a manifest edited in place, same size, same mtime, then the next process reads it", (root) =>
    Effect.gen(function*() {
      const target = `${root}/repo/plugins/a/.codex-plugin/plugin.json`
      coarsen(target)
      yield* listAsNewProcess(optionsFor(root))
      editInPlace(target, manifest("Two"))
      const after = yield* listAsNewProcess(optionsFor(root))
      assert.deepStrictEqual([displayNames(after.loaded)[1], after.rewritten], ["Two", true])
      assert.isFalse((yield* listAsNewProcess(optionsFor(root))).rewritten)
    }))

  snapshotTest("given a marketplace file edited in place then the next process reads it", (root) =>
    Effect.gen(function*() {
      const target = `${root}/repo/${FILE}`
      coarsen(target)
      yield* listAsNewProcess(optionsFor(root))
      editInPlace(target, JSON.stringify({ name: "n", interface: { displayName: "N" }, plugins: [entry("a"), entry("b"), entry("c")] }))
      const after = yield* listAsNewProcess(optionsFor(root))
      assert.strictEqual(after.loaded.marketplaces[1]?.name, "n")
    }))

  snapshotTest("given a plugin directory created, then removed, then each next process sees it", (root) =>
    Effect.gen(function*() {
      yield* listAsNewProcess(optionsFor(root))
      NodeFs.mkdirSync(`${root}/repo/plugins/b/.codex-plugin`, { recursive: true })
      NodeFs.writeFileSync(`${root}/repo/plugins/b/.codex-plugin/plugin.json`, manifest("Made"))
      assert.strictEqual(displayNames((yield* listAsNewProcess(optionsFor(root))).loaded)[2], "Made")
      NodeFs.rmSync(`${root}/repo/plugins/a`, { recursive: true })
      assert.deepStrictEqual(displayNames((yield* listAsNewProcess(optionsFor(root))).loaded).slice(1, 3), [null, "Made"])
    }))

  snapshotTest("given a symlinked plugin root or marketplace file pointed elsewhere then the next process follows it", (root) =>
    Effect.gen(function*() {
      NodeFs.mkdirSync(`${root}/elsewhere/one/.codex-plugin`, { recursive: true })
      NodeFs.mkdirSync(`${root}/elsewhere/two/.codex-plugin`, { recursive: true })
      NodeFs.writeFileSync(`${root}/elsewhere/one/.codex-plugin/plugin.json`, manifest("Uno"))
      NodeFs.writeFileSync(`${root}/elsewhere/two/.codex-plugin/plugin.json`, manifest("Dos"))
      NodeFs.rmSync(`${root}/repo/plugins/a`, { recursive: true })
      NodeFs.symlinkSync(`${root}/elsewhere/one`, `${root}/repo/plugins/a`)
      assert.strictEqual(displayNames((yield* listAsNewProcess(optionsFor(root))).loaded)[1], "Uno")
      NodeFs.rmSync(`${root}/repo/plugins/a`)
      NodeFs.symlinkSync(`${root}/elsewhere/two`, `${root}/repo/plugins/a`)
      assert.strictEqual(displayNames((yield* listAsNewProcess(optionsFor(root))).loaded)[1], "Dos")

      const marketplace = `${root}/repo/${FILE}`
      NodeFs.writeFileSync(`${root}/other.json`, JSON.stringify({ name: "o", plugins: [entry("a")] }))
      NodeFs.renameSync(marketplace, `${root}/same.json`)
      NodeFs.symlinkSync(`${root}/same.json`, marketplace)
      assert.strictEqual((yield* listAsNewProcess(optionsFor(root))).loaded.marketplaces[1]?.name, "m")
      NodeFs.rmSync(marketplace)
      NodeFs.symlinkSync(`${root}/other.json`, marketplace)
      assert.strictEqual((yield* listAsNewProcess(optionsFor(root))).loaded.marketplaces[1]?.name, "o")
    }))

  snapshotTest("given CODEX_HOME moved elsewhere then the snapshot it carries still serves, and its own files are read anew", (root) =>
    Effect.gen(function*() {
      yield* listAsNewProcess(optionsFor(root))
      NodeFs.renameSync(`${root}/codex`, `${root}/moved`)
      const moved = yield* listAsNewProcess(optionsFor(root, `${root}/moved`))
      assert.deepStrictEqual(moved.loaded.marketplaces.map((m) => m.path), [`${root}/moved/.tmp/plugins/${FILE}`, `${root}/repo/${FILE}`])
      // the curated marketplace under the old path was read anew, so the snapshot was written again
      assert.isTrue(moved.rewritten)
    }))

  snapshotTest("given the snapshot truncated, garbled, replaced or written by another program then it is read from the files", (root) =>
    Effect.gen(function*() {
      const ledger = `${root}/codex/ledger`
      const file = `${ledger}/${DISCOVERY_SNAPSHOT_FILE}`
      yield* listAsNewProcess(optionsFor(root))
      const good = NodeFs.readFileSync(file)
      const damages: ReadonlyArray<() => void> = [
        () => NodeFs.writeFileSync(file, good.subarray(0, good.length - 100)),
        () => NodeFs.writeFileSync(file, Buffer.concat([good.subarray(0, 200), Buffer.from("}{"), good.subarray(202)])),
        () => NodeFs.writeFileSync(file, "not a snapshot"),
        () => NodeFs.writeFileSync(file, ""),
        () => NodeFs.writeFileSync(file, good.toString("utf8").replace(`"code":"${codeStamp()}"`, "\"code\":\"another build\"")),
        () => {
          NodeFs.rmSync(file)
          NodeFs.mkdirSync(file)
        },
        () => {
          NodeFs.rmSync(file, { recursive: true })
          NodeFs.symlinkSync(`${root}/repo/${FILE}`, file)
        }
      ]
      for (const [index, damage] of damages.entries()) {
        damage()
        const after = yield* listAsNewProcess(optionsFor(root))
        assert.deepStrictEqual(displayNames(after.loaded), ["Curated", "One", null, null], `damage ${index}`)
        // a directory in its place cannot be replaced: the listing still answers
        if (NodeFs.lstatSync(file).isDirectory()) continue
        NodeFs.rmSync(file, { force: true })
        yield* listAsNewProcess(optionsFor(root))
        assert.isFalse((yield* listAsNewProcess(optionsFor(root))).rewritten, `damage ${index}: written again whole`)
      }
    }))

  snapshotTest("given files changed within the settle time then they are not saved; without a ledger nothing is written", (root) =>
    Effect.gen(function*() {
      const ledger = `${root}/codex/ledger`
      const snapshot = makeDiscoverySnapshot(ledger, SETTLE_MS, Date.now)
      const discovery = makeMarketplaceDiscovery(undefined, snapshot)
      // the real clock: the files were all written a moment ago; only what is missing (no timestamps) is settled
      discovery.loadNow(discovery.discoverNow(optionsFor(root)), Date.now())
      yield* Effect.promise(() => snapshot.idle())
      const stored = readSnapshotFile(`${ledger}/${DISCOVERY_SNAPSHOT_FILE}`, Date.now(), SETTLE_MS)?.objects()
      assert.deepStrictEqual([stored?.marketplaces.length, stored?.manifests.map((m) => m.key)], [0, [`${root}/repo/plugins/b`]])

      NodeFs.rmSync(ledger, { recursive: true })
      yield* listAsNewProcess(optionsFor(root))
      assert.isFalse(NodeFs.existsSync(ledger))
    }))
})
