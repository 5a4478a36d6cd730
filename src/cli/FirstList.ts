/**
 * The answer to `serve`'s first `plugin/list` when it is given before the engine is loaded (see EarlyList.ts): the
 * session's own steps for the request (the wire decoding, config.toml, discovery with the watch candidates noted
 * first, loading, the cache), without the Effect runtime. Imported only for that request.
 */
import { Result } from "effect"
import * as NodePath from "node:path"
import type { Writable } from "node:stream"
import { nodeFs } from "../adapters/FsPort.ts"
import { signatureOf, type Signature } from "../adapters/StatSignature.ts"
import { listingHead, listingMarketplace, listingMarketplaceJson, listingTail } from "../rpc/ListingLine.ts"
import { decodeValue } from "../rpc/SerdeDecode.ts"
import { methodParams } from "../rpc/WireParams.ts"
import type { LedgerPaths } from "../services/LedgerPaths.ts"
import { makeCacheWatchRelay } from "../services/ListingCache.ts"
import { makeDiscoverySnapshot } from "../services/DiscoverySnapshot.ts"
import { makeMarketplaceDiscovery, watchCandidates } from "../services/MarketplaceDiscovery.ts"
import { SETTLE_MS } from "../services/MarketplaceLoader.ts"
import type { EarlyListing } from "../services/MarketplaceWatcher.ts"
import { makeRenderState, renderFragment } from "../services/ListingFragments.ts"
import { marketplaceView, pluginStateOf, readListingConfig } from "../services/PluginListing.ts"
import type { PlainList } from "./EarlyList.ts"

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isStringList = (value: unknown): value is ReadonlyArray<string> =>
  Array.isArray(value) && value.every((item) => typeof item === "string")

/**
 * A first listing that will be answered: `write` sends the answer, from the discovery snapshot's listing fragments
 * while the files are as it saw them (ListingFragments.ts), and from the first that is not, loading as it goes.
 */
export interface FirstListing {
  /**
   * Writes the answer line on `output`, each marketplace as soon as it is loaded (the client reads the first while the
   * next load), and resolves once the kernel has taken all of it, with the listing the engine takes over. Once it is
   * called the answer is under way: a failure then is the process's, never the session's to answer again.
   */
  readonly write: (output: Writable) => Promise<EarlyListing>
}

/** `text` written, once the kernel has taken it (or the output failed: the session meets that failure and ends) */
const written = (output: Writable, text: string): Promise<void> => new Promise((resolve) => output.write(text, () => resolve()))

/**
 * Marketplaces written from fragments between two turns of the event loop: about 130 KiB for the bench's, two pipe
 * buffers' worth; a turn after each one measured slower (a turn is not free), none at all too (the client then reads
 * nothing until the end).
 */
const FRAGMENTS_PER_TURN = 3

/** a turn of the event loop, in which the pipe takes what it can of what was written */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * The first listing of `request`, as the session would answer it; undefined when the session must answer: params the
 * wire decoding refuses (its error), `forceRemoteSync` (a remote sync), a config.toml Codex cannot load (an internal
 * error).
 */
export const prepareFirstList = (paths: LedgerPaths, request: PlainList): FirstListing | undefined => {
  const shape = methodParams.get("plugin/list")
  if (shape === undefined || request.params === undefined || request.params === null) return undefined
  const decoded = decodeValue(shape, request.params)
  if (Result.isFailure(decoded) || !isRecord(decoded.success)) return undefined
  const { cwds, forceRemoteSync } = decoded.success
  if (forceRemoteSync !== false || (cwds !== null && !isStringList(cwds))) return undefined
  const config = readListingConfig(nodeFs, paths.configPath)
  if ("error" in config) return undefined
  const options = { home: paths.home, codexHome: paths.codexHome, cwds: cwds ?? [] }
  // as the watcher does it, the candidates are looked at before discovery: a change after this look is reported
  const seen = new Map<string, Signature>()
  for (const candidate of watchCandidates(options)) {
    const absolute = NodePath.resolve(candidate)
    seen.set(absolute, signatureOf(absolute, true))
  }
  const relay = makeCacheWatchRelay()
  const snapshot = makeDiscoverySnapshot(paths.ledgerDir, SETTLE_MS)
  const discovery = makeMarketplaceDiscovery(relay, snapshot)
  const files = discovery.discoverNow(options)
  const stateOf = (pluginId: string) => pluginStateOf(nodeFs, paths.cacheDir, config.config, pluginId)
  return {
    write: async (output) => {
      output.write(listingHead(request.id, request.jsonrpc))
      let index = 0
      // the files as the snapshot saw them, from their fragments (ListingFragments.ts), each written at once
      const rendering = makeRenderState()
      let from = 0
      for (; from < files.length; from++) {
        const file = files[from]
        const text = file === undefined ? undefined : renderFragment(file, snapshot.storedListing, stateOf, rendering)
        if (text === undefined) break
        if (text === null) continue
        output.write(listingMarketplaceJson(text, index++))
        if (index % FRAGMENTS_PER_TURN === 0) await turn()
      }
      if (from === files.length) {
        // the engine's load would hold the rest of the line back: this waits until the kernel has taken it all
        await written(output, `${listingTail([])}\n`)
        return { discovery, relay, options, seen }
      }
      // from the first file that is not, the loader, with the plugin ids met so far
      const steps = discovery.loadSteps(files.slice(from), Date.now(), rendering.seen)
      for (;;) {
        const step = steps.next()
        if (step.done === true) {
          await written(output, `${listingTail(step.value.errors)}\n`)
          // the files rendered from fragments are loaded too, so that the caches (and the snapshot) hold them all
          if (from > 0) discovery.loadNow(files, Date.now())
          return { discovery, relay, options, seen }
        }
        output.write(listingMarketplace(marketplaceView(nodeFs, paths.cacheDir, config.config, step.value), index++))
        await turn()
      }
    }
  }
}
