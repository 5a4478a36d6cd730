/**
 * A `plugin/list` answer line in pieces, so that its first marketplaces go out while the rest still load (`serve`'s
 * first listing: the 880 KiB answer of a large listing takes the client as long to read as a third of the listing
 * takes to load). `head`, then `marketplace` for each listed marketplace in order, then `tail`, joined, are exactly
 * `encodeResult(id, listingView(...), jsonrpc)`: the keys of `PluginListView` in their order, `marketplaceLoadErrors`
 * only when there are some (a test holds the two side by side). No Effect dependency.
 */
import type { MarketplaceLoadErrorView, MarketplaceView } from "../domain/PluginViews.ts"
import { type RequestId, resultHead } from "./ResponseLine.ts"

export const listingHead = (id: RequestId, jsonrpc: boolean): string => `${resultHead(id, jsonrpc)}{"marketplaces":[`

/** the `index`th listed marketplace (from 0), given as its JSON */
export const listingMarketplaceJson = (json: string, index: number): string => (index === 0 ? json : `,${json}`)

/** the `index`th listed marketplace (from 0) */
export const listingMarketplace = (view: MarketplaceView, index: number): string => listingMarketplaceJson(JSON.stringify(view), index)

/** the end of the line, without its newline */
export const listingTail = (errors: ReadonlyArray<MarketplaceLoadErrorView>): string =>
  `],"remoteSyncError":null${errors.length === 0 ? "" : `,"marketplaceLoadErrors":${JSON.stringify(errors)}`}}}`
