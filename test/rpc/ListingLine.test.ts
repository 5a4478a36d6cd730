/**
 * A `plugin/list` answer written in pieces (`serve`'s first listing) is byte for byte the line `encodeResult` makes of
 * the whole listing: ids of each kind, with and without `"jsonrpc"`, no marketplace, several, and skipped files.
 */
import { assert, describe, it } from "@effect/vitest"
import type { MarketplaceView, PluginListView } from "../../src/domain/PluginViews.ts"
import { listingHead, listingMarketplace, listingTail } from "../../src/rpc/ListingLine.ts"
import { encodeResult, type RequestId } from "../../src/rpc/ResponseLine.ts"

const marketplace = (name: string): MarketplaceView => ({
  name,
  path: `/w/${name}/.agents/plugins/marketplace.json`,
  interface: name === "a" ? { displayName: "A \u2028 \"quoted\"" } : null,
  plugins: [{
    id: `p@${name}`,
    name: "p",
    source: { type: "local", path: `/w/${name}/plugins/p` },
    installed: name === "a",
    enabled: false,
    installPolicy: "AVAILABLE",
    authPolicy: "ON_INSTALL",
    interface: null
  }]
})

const inPieces = (id: RequestId, jsonrpc: boolean, view: PluginListView): string =>
  listingHead(id, jsonrpc) + view.marketplaces.map(listingMarketplace).join("") + listingTail(view.marketplaceLoadErrors ?? [])

describe("ListingLine", () => {
  it("given any listing then its pieces joined are the line encodeResult makes of it", () => {
    const errors = [{ marketplacePath: "/w/bad/.agents/plugins/marketplace.json", message: "invalid marketplace file `x`: oops" }]
    const views: ReadonlyArray<PluginListView> = [
      { marketplaces: [], remoteSyncError: null },
      { marketplaces: [marketplace("a")], remoteSyncError: null },
      { marketplaces: [marketplace("a"), marketplace("b"), marketplace("c")], remoteSyncError: null },
      { marketplaces: [marketplace("a")], remoteSyncError: null, marketplaceLoadErrors: errors },
      { marketplaces: [], remoteSyncError: null, marketplaceLoadErrors: errors }
    ]
    for (const view of views) {
      for (const id of [2, "two", 9007199254740993n, 0, ""] as const) {
        for (const jsonrpc of [false, true]) {
          assert.strictEqual(inPieces(id, jsonrpc, view), encodeResult(id, view, jsonrpc), JSON.stringify([String(id), jsonrpc, view]))
        }
      }
    }
  })
})
