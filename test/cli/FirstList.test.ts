/**
 * `serve`'s first listing in process: from the discovery snapshot's fragments when nothing changed (the engine's
 * caches are then left empty), from the fragments up to the first changed file and from the loader after it, and
 * from the loader alone without a snapshot; each answer byte for byte the line the session's steps give for the
 * files as they are.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Writable } from "node:stream"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import type { PlainList } from "../../src/cli/EarlyList.ts"
import { prepareFirstList } from "../../src/cli/FirstList.ts"
import { encodeResult } from "../../src/rpc/ResponseLine.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { makeMarketplaceDiscovery } from "../../src/services/MarketplaceDiscovery.ts"
import { listingView, readListingConfig } from "../../src/services/PluginListing.ts"
import { type Layout, materializeLayout } from "../support/Trees.ts"

const FILE = ".agents/plugins/marketplace.json"
const entry = (name: string, extra: Record<string, unknown> = {}) => ({ name, source: { source: "local", path: `./plugins/${name}` }, ...extra })
const manifest = (displayName: string) => JSON.stringify({ name: "p", interface: { displayName } })

// mb repeats ma's `one` and mc repeats mb's `two`: which entry wins depends on the files before
const LAYOUT: Layout = {
  dirs: ["a/.git", "b/.git", "c/.git", "home", "codex/ledger"],
  files: {
    [`a/${FILE}`]: JSON.stringify({ name: "m", plugins: [entry("one"), entry("hid", { policy: { products: ["ATLAS"] } })] }),
    "a/plugins/one/.codex-plugin/plugin.json": manifest("A one"),
    [`b/${FILE}`]: JSON.stringify({ name: "m", plugins: [entry("one", { category: "B" }), entry("two"), entry("hid")] }),
    "b/plugins/two/.codex-plugin/plugin.json": manifest("B two"),
    "b/plugins/hid/.codex-plugin/plugin.json": manifest("B hid"),
    [`c/${FILE}`]: JSON.stringify({ name: "m", plugins: [entry("two", { category: "C" }), entry("three")] }),
    "c/plugins/three/.codex-plugin/plugin.json": manifest("C three"),
    "codex/config.toml": "[features]\nplugins = true\n\n[plugins.\"two@m\"]\nenabled = true\n"
  }
}

const collector = () => {
  const chunks: Array<Buffer> = []
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      callback()
    }
  })
  return { output, text: () => Buffer.concat(chunks).toString("utf8") }
}

/** the snapshot's temporary files: a background write is under way while one is there */
const snapshotTemps = (file: string): ReadonlyArray<string> =>
  NodeFs.readdirSync(NodePath.dirname(file)).filter((name) => name.startsWith(`.${NodePath.basename(file)}.tmp-`))

/**
 * Waits for a write of the snapshot, absent before it: the file is there and no write is under way. (Not by mtime:
 * the file's is the kernel's coarse clock, which may lag `Date.now()` by a tick when the write follows at once.)
 */
const snapshotWritten = async (file: string, label: string) => {
  for (let i = 0; i < 400; i++) {
    if (NodeFs.existsSync(file) && snapshotTemps(file).length === 0) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  assert.fail(`${file} was not written (${label})`)
}

/** Waits until no background write of the snapshot is under way (one may land long after its listing when fsyncs are slow). */
const snapshotSettled = async (file: string) => {
  for (let i = 0; i < 400; i++) {
    if (!NodeFs.existsSync(NodePath.dirname(file)) || snapshotTemps(file).length === 0) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  assert.fail(`a write of ${file} did not finish`)
}

describe("prepareFirstList", () => {
  it.effect("answers from the fragments, then from fragments and loader, each as the files are", () =>
    Effect.gen(function*() {
      const root = yield* materializeLayout(LAYOUT, "first-list-")
      const paths = makeLedgerPaths({ codexHome: `${root}/codex`, home: `${root}/home` })
      const snapshot = `${paths.ledgerDir}/discovery.snapshot`
      const request: PlainList = { id: 7, jsonrpc: true, params: { cwds: ["a", "b", "c"].map((d) => `${root}/${d}`) } }
      /** the session's steps on the files as they are now */
      const expected = () => {
        const discovery = makeMarketplaceDiscovery()
        const loaded = discovery.loadNow(discovery.discoverNow({ home: paths.home, codexHome: paths.codexHome, cwds: ["a", "b", "c"].map((d) => `${root}/${d}`) }), Date.now())
        const config = readListingConfig(nodeFs, paths.configPath)
        if ("error" in config) return assert.fail(config.error)
        return `${encodeResult(7, listingView(nodeFs, paths.cacheDir, loaded, config.config), true)}\n`
      }
      const answer = () =>
        Effect.promise(async () => {
          const listing = prepareFirstList(paths, request)
          if (listing === undefined) return assert.fail("not answered early")
          const { output, text } = collector()
          const listed = await listing.write(output)
          return { text: text(), kept: listed.discovery.caches.stats().kept }
        })
      // every file settled (sub-second timestamps: a quarter second)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 400)))

      assert.isFalse(NodeFs.existsSync(snapshot))
      const first = yield* answer()
      assert.strictEqual(first.text, expected())
      assert.isAbove(first.kept, 0)
      yield* Effect.promise(() => snapshotWritten(snapshot, "first"))

      // whole from the fragments: the engine's caches are left empty
      const fromFragments = yield* answer()
      assert.deepStrictEqual(fromFragments, { text: first.text, kept: 0 })

      // b changed in place (same size, mtime put back): a from its fragment, b and c from the loader
      const target = `${root}/b/${FILE}`
      const stat = NodeFs.statSync(target)
      // the category moved to b's own (listed) `two`: same size
      NodeFs.writeFileSync(target, JSON.stringify({ name: "m", plugins: [entry("one"), entry("two", { category: "B" }), entry("hid")] }))
      NodeFs.utimesSync(target, stat.atime, stat.mtime)
      const mixed = yield* answer()
      assert.strictEqual(mixed.text, expected())
      assert.notStrictEqual(mixed.text, first.text)
      assert.isAbove(mixed.kept, 0)

      // b's new bytes settled too: the last answer keeps them, a change the snapshot is written for (a listing that
      // changes nothing writes none: under load, b's ctime could still be within the margin here, and nothing written)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 400)))
      // the mixed listing's own write, if it made one, has landed: it must not be taken for the last one's
      yield* Effect.promise(() => snapshotSettled(snapshot))
      NodeFs.rmSync(snapshot, { force: true })
      assert.strictEqual((yield* answer()).text, expected())
      // its background write (the snapshot was gone) lands before the temporary directory goes
      yield* Effect.promise(() => snapshotWritten(snapshot, "last"))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
