/**
 * The answer to `serve`'s first `plugin/list` when it is given before the engine is loaded (see EarlyList.ts): the
 * session's own steps for the request (the wire decoding, discovery with the watch candidates noted first, loading,
 * config.toml and the cache), without the Effect runtime. Imported only for that request.
 */
import { Result } from "effect"
import * as NodePath from "node:path"
import { nodeFs } from "../adapters/FsPort.ts"
import { signatureOf, type Signature } from "../adapters/StatSignature.ts"
import { encodeResult } from "../rpc/ResponseLine.ts"
import { decodeValue } from "../rpc/SerdeDecode.ts"
import { methodParams } from "../rpc/WireParams.ts"
import type { LedgerPaths } from "../services/LedgerPaths.ts"
import { makeCacheWatchRelay } from "../services/ListingCache.ts"
import { makeDiscoverySnapshot } from "../services/DiscoverySnapshot.ts"
import { makeMarketplaceDiscovery, SETTLE_MS, watchCandidates } from "../services/MarketplaceDiscovery.ts"
import type { EarlyListing } from "../services/MarketplaceWatcher.ts"
import { listingView, readListingConfig } from "../services/PluginListing.ts"
import type { PlainList } from "./EarlyList.ts"

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isStringList = (value: unknown): value is ReadonlyArray<string> =>
  Array.isArray(value) && value.every((item) => typeof item === "string")

/**
 * The answer line to `request`, as the session would give it, and the listing the engine takes over; undefined when
 * the session must answer: params the wire decoding refuses (its error), `forceRemoteSync` (a remote sync), a
 * config.toml Codex cannot load (an internal error).
 */
export const listFirst = (
  paths: LedgerPaths,
  request: PlainList
): { readonly line: string; readonly listed: EarlyListing } | undefined => {
  const shape = methodParams.get("plugin/list")
  if (shape === undefined || request.params === undefined || request.params === null) return undefined
  const decoded = decodeValue(shape, request.params)
  if (Result.isFailure(decoded) || !isRecord(decoded.success)) return undefined
  const { cwds, forceRemoteSync } = decoded.success
  if (forceRemoteSync !== false || (cwds !== null && !isStringList(cwds))) return undefined
  const options = { home: paths.home, codexHome: paths.codexHome, cwds: cwds ?? [] }
  // as the watcher does it, the candidates are looked at before discovery: a change after this look is reported
  const seen = new Map<string, Signature>()
  for (const candidate of watchCandidates(options)) {
    const absolute = NodePath.resolve(candidate)
    seen.set(absolute, signatureOf(absolute, true))
  }
  const relay = makeCacheWatchRelay()
  const discovery = makeMarketplaceDiscovery(relay, makeDiscoverySnapshot(paths.ledgerDir, SETTLE_MS))
  const loaded = discovery.loadNow(discovery.discoverNow(options), Date.now())
  const config = readListingConfig(nodeFs, paths.configPath)
  if ("error" in config) return undefined
  const line = encodeResult(request.id, listingView(nodeFs, paths.cacheDir, loaded, config.config), request.jsonrpc)
  return { line, listed: { discovery, relay, options, seen } }
}
