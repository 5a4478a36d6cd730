/**
 * `serve`'s first listing from the snapshot's listing fragments is byte for byte the listing the loader makes:
 * duplicate plugin ids across files (the first wins, even when hidden), entries hidden by `policy.products`, a
 * marketplace left empty (omitted), marketplace categories over manifest interfaces or none, installed and enabled
 * plugins. A file changed in any way (same size, same mtime) or one that does not parse leaves the listing to the loader.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path } from "effect"
import type { Scope } from "effect"
import * as NodeFs from "node:fs"
import { nodeFs } from "../../src/adapters/FsPort.ts"
import { makeDiscoverySnapshot } from "../../src/services/DiscoverySnapshot.ts"
import { renderFragments } from "../../src/services/ListingFragments.ts"
import { type DiscoverOptions, makeMarketplaceDiscovery } from "../../src/services/MarketplaceDiscovery.ts"
import { SETTLE_MS } from "../../src/services/MarketplaceLoader.ts"
import { listingView, pluginStateOf, readListingConfig } from "../../src/services/PluginListing.ts"
import { type Layout, materializeLayout } from "../support/Trees.ts"

const FILE = ".agents/plugins/marketplace.json"
const entry = (name: string, extra: Record<string, unknown> = {}) => ({ name, source: { source: "local", path: `./plugins/${name}` }, ...extra })
const manifest = (displayName: string) => JSON.stringify({ name: "p", interface: { displayName, category: "Own", logo: "./l.png", defaultPrompt: ["Go"] } })

const LAYOUT: Layout = {
  dirs: ["a/.git", "b/.git", "c/.git", "home", "codex/ledger", "codex/plugins/cache/ma/one/local"],
  files: {
    [`a/${FILE}`]: JSON.stringify({
      name: "ma",
      interface: { displayName: "A \u2028 \"quoted\"" },
      plugins: [
        entry("one", { category: "Design" }),
        entry("two"),
        entry("hidden", { policy: { products: ["ATLAS"] } }),
        entry("bare", { category: "" })
      ]
    }),
    "a/plugins/one/.codex-plugin/plugin.json": manifest("One"),
    "a/plugins/two/.codex-plugin/plugin.json": manifest("Two"),
    "a/plugins/bare/.codex-plugin/plugin.json": "{\"name\":5}",
    // mb's "one" is another marketplace's id; its "dup" repeats itself, the second one loses
    [`b/${FILE}`]: JSON.stringify({ name: "mb", plugins: [entry("one"), entry("dup"), entry("dup", { category: "Later" }), entry("none")] }),
    "b/plugins/one/.codex-plugin/plugin.json": manifest("B one"),
    "b/plugins/dup/.codex-plugin/plugin.json": manifest("Dup"),
    // everything in mc is hidden: it is omitted
    [`c/${FILE}`]: JSON.stringify({ name: "mc", plugins: [entry("x", { policy: { products: ["CHATGPT"] } })] }),
    "codex/config.toml": "[features]\nplugins = true\n\n[plugins.\"one@ma\"]\nenabled = true\n\n[plugins.\"two@ma\"]\nenabled = true\n"
  }
}

const NOW = Date.now() + 60_000

const optionsFor = (root: string): DiscoverOptions => ({ home: `${root}/home`, codexHome: `${root}/codex`, cwds: ["a", "b", "c"].map((d) => `${root}/${d}`) })

/** A first process lists and writes the snapshot; returns what a second one renders from it, and the loader's answer. */
const bothWays = (root: string) =>
  Effect.promise(async () => {
    const options = optionsFor(root)
    const config = readListingConfig(nodeFs, `${root}/codex/config.toml`)
    if ("error" in config) return assert.fail(config.error)
    const stateOf = (id: string) => pluginStateOf(nodeFs, `${root}/codex/plugins/cache`, config.config, id)
    const writer = makeDiscoverySnapshot(`${root}/codex/ledger`, SETTLE_MS, () => NOW)
    const first = makeMarketplaceDiscovery(undefined, writer)
    first.loadNow(first.discoverNow(options), NOW)
    await writer.idle()
    const reader = makeDiscoverySnapshot(`${root}/codex/ledger`, SETTLE_MS, () => NOW + 1)
    const files = first.discoverNow(options)
    const rendered = renderFragments(files, reader.storedListing, stateOf)
    const plain = makeMarketplaceDiscovery()
    const view = listingView(nodeFs, `${root}/codex/plugins/cache`, plain.loadNow(files, NOW), config.config)
    return { rendered: rendered === undefined ? undefined : `[${rendered.join(",")}]`, loaded: JSON.stringify(view.marketplaces) }
  })

const fragmentsTest = (name: string, body: (root: string) => Effect.Effect<void, never, FileSystem.FileSystem | Path.Path | Scope.Scope>) =>
  it.effect(name, () => materializeLayout(LAYOUT, "listing-fragments-").pipe(Effect.flatMap(body), Effect.scoped, Effect.provide(NodeServices.layer)))

describe("ListingFragments", () => {
  fragmentsTest("given every file as the snapshot saw it then the fragments joined are the loader's listing, byte for byte", (root) =>
    Effect.gen(function*() {
      const { rendered, loaded } = yield* bothWays(root)
      assert.strictEqual(rendered, loaded)
      // the cases are all there: installed and enabled, the winner of the duplicates, mc omitted
      assert.include(loaded, "\"id\":\"one@ma\",\"name\":\"one\",\"source\":{\"type\":\"local\",\"path\":")
      assert.include(loaded, "\"installed\":true,\"enabled\":true")
      assert.include(loaded, "\"installed\":false,\"enabled\":true")
      assert.notInclude(loaded, "hidden@ma")
      assert.notInclude(loaded, "\"Later\"")
      assert.notInclude(loaded, "\"mc\"")
    }))

  fragmentsTest("given a manifest or a marketplace file edited in place, same size and mtime, then the loader lists", (root) =>
    Effect.gen(function*() {
      for (const [file, content] of [["a/plugins/two/.codex-plugin/plugin.json", manifest("Owt")], [`b/${FILE}`, JSON.stringify({ name: "mb", plugins: [entry("one"), entry("dup"), entry("dup", { category: "Rtal" }), entry("none")] })]] as const) {
        const target = `${root}/${file}`
        const second = Math.floor(Date.now() / 1000) - 100
        NodeFs.utimesSync(target, second, second)
        const before = yield* bothWays(root)
        assert.strictEqual(before.rendered, before.loaded)
        NodeFs.writeFileSync(target, content)
        NodeFs.utimesSync(target, second, second)
        // the snapshot of `bothWays` is written before the edit is looked at: the reader sees the old one
        const reader = makeDiscoverySnapshot(`${root}/codex/ledger`, SETTLE_MS, () => NOW + 1)
        const files = makeMarketplaceDiscovery().discoverNow(optionsFor(root))
        assert.isUndefined(renderFragments(files, reader.storedListing, () => ({ installed: false, enabled: false })), file)
      }
    }))

  fragmentsTest("given a plugin directory created or removed, or a marketplace file that does not parse, then the loader lists", (root) =>
    Effect.gen(function*() {
      const reread = () => {
        const reader = makeDiscoverySnapshot(`${root}/codex/ledger`, SETTLE_MS, () => NOW + 1)
        const files = makeMarketplaceDiscovery().discoverNow(optionsFor(root))
        return renderFragments(files, reader.storedListing, () => ({ installed: false, enabled: false }))
      }
      assert.isDefined((yield* bothWays(root)).rendered)
      NodeFs.mkdirSync(`${root}/b/plugins/none/.codex-plugin`, { recursive: true })
      assert.isUndefined(reread())
      const created = yield* bothWays(root)
      assert.strictEqual(created.rendered, created.loaded)
      NodeFs.rmSync(`${root}/a/plugins/two`, { recursive: true })
      assert.isUndefined(reread())

      NodeFs.writeFileSync(`${root}/c/${FILE}`, "{ not json")
      const after = yield* bothWays(root)
      assert.isUndefined(after.rendered)
      assert.include(after.loaded, "\"one@ma\"")
    }))
})
