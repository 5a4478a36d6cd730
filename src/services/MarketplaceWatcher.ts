/**
 * Keeps marketplace discovery current in a long-running process. Watched: `$HOME`'s marketplace file, the curated
 * mirror's, and for every cwd a client asked about (and every marketplace path it installed from) the root's own
 * file and its git repository's, whether they exist yet or not (see `PathWatch`: only the directories on the way
 * are watched, never a tree). A marketplace file created, changed or deleted is published as a
 * `MarketplaceChange`.
 *
 * It also provides the MarketplaceDiscovery the Catalog uses, with loading caches that trust the watch: a parsed
 * marketplace or manifest whose files are all covered is reused without a `stat` until the watch reports a change
 * to one of them (invalidated inside the file-system event, so before anything can list again). Files the watch
 * does not cover (yet) are revalidated with `stat`s as before.
 */
import { Context, Effect, Layer, PubSub, type Scope } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { type Signature, signatureOf } from "../adapters/StatSignature.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import type { CacheWatch, CacheWatchRelay } from "./ListingCache.ts"
import { makeDiscoverySnapshot } from "./DiscoverySnapshot.ts"
import { type DiscoverOptions, type Discovery, MarketplaceDiscovery, makeMarketplaceDiscovery, watchCandidates } from "./MarketplaceDiscovery.ts"
import { SETTLE_MS } from "./MarketplaceLoader.ts"
import { type PathChangeKind, PathWatch } from "./PathWatch.ts"

export interface MarketplaceChange {
  readonly marketplacePath: string
  readonly kind: PathChangeKind
}

/**
 * Paths handed to the watch per event-loop turn, starting a moment after the listing that asked for them, so that
 * a first listing of thousands of plugins is answered first and later requests are held up by a millisecond at most.
 */
const TRACK_BATCH = 64
const TRACK_DELAY_MS = 10

const isSymlink = (path: string): boolean => {
  try {
    return NodeFs.lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true
  } catch {
    return true
  }
}

/**
 * A listing made before the watcher existed (`serve`'s first `plugin/list`, answered before the engine is loaded):
 * its discovery, whose caches the watcher takes over through `relay`, the roots it listed, and what their watch
 * candidates looked like before it looked (by absolute path), so that a change since is still reported.
 */
export interface EarlyListing {
  readonly discovery: Discovery
  readonly relay: CacheWatchRelay
  readonly options: DiscoverOptions
  readonly seen: ReadonlyMap<string, Signature>
}

export class MarketplaceWatcher extends Context.Service<MarketplaceWatcher, {
  /** marketplace files created, changed or deleted after this subscription; ends with the scope */
  readonly subscribe: Effect.Effect<PubSub.Subscription<MarketplaceChange>, never, Scope.Scope>
  /**
   * Watch this marketplace file too (e.g. one a client installed from), in two steps: what it looks like is taken at
   * once, and the returned effect adds the watch, later (once an install is answered: a new path's watches cost an
   * install ~0.08 ms). A change in between is reported as the watch would have reported it.
   */
  readonly watchFile: (marketplacePath: string) => Effect.Effect<Effect.Effect<void>>
  /** cached results, and how many of them are reused without a `stat` */
  readonly cacheStats: Effect.Effect<{ readonly kept: number; readonly trusted: number }>
}>()("plugin-ledger/services/MarketplaceWatcher") {
  /** The watcher; with `early`, it takes over that listing's discovery and watches its roots as of its look. */
  static readonly layerAfter = (
    early: EarlyListing | undefined
  ): Layer.Layer<MarketplaceWatcher | MarketplaceDiscovery, never, LedgerConfig | PathWatch> => Layer.effectContext(
    Effect.gen(function*() {
      const paths = yield* LedgerConfig
      const watch = yield* PathWatch
      const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<MarketplaceChange>(), PubSub.shutdown)

      // the caches' side: synchronous invalidation, watches registered in batches off the request path
      let invalidate: (path: string) => void = () => {}
      const cacheWatch = yield* watch.watchSync((path) => invalidate(path))
      const pending = new Set<string>()
      let scheduled = false
      let closed = false
      const drain = () => {
        scheduled = false
        if (closed) return
        const batch: Array<string> = []
        for (const path of pending) {
          batch.push(path)
          pending.delete(path)
          if (batch.length >= TRACK_BATCH) break
        }
        cacheWatch.add(batch)
        if (pending.size > 0) schedule(true)
      }
      const schedule = (soon = false) => {
        if (scheduled) return
        scheduled = true
        if (soon) setImmediate(drain).unref()
        else setTimeout(drain, TRACK_DELAY_MS).unref()
      }
      yield* Effect.addFinalizer(() => Effect.sync(() => void (closed = true)))
      const trust: CacheWatch = {
        covers: (observation) => cacheWatch.covers(observation.path) && !(observation.follow && isSymlink(observation.path)),
        track: (tracked) => {
          for (const path of tracked) pending.add(path)
          schedule()
        },
        untrack: (untracked) => {
          for (const path of untracked) pending.delete(path)
          cacheWatch.remove(untracked)
        }
      }
      const discovery = early?.discovery ?? makeMarketplaceDiscovery(trust, makeDiscoverySnapshot(paths.ledgerDir, SETTLE_MS))
      early?.relay.connect(trust)
      invalidate = discovery.caches.invalidate

      // the notifications' side
      const files = yield* watch.watch(
        [],
        (change) => PubSub.publish(pubsub, { marketplacePath: change.path, kind: change.kind }).pipe(Effect.asVoid)
      )
      const seenRoots = new Set<string>()
      const watchRoots = (options: DiscoverOptions, seen?: ReadonlyMap<string, Signature>) => {
        const fresh = options.cwds.filter((cwd) => !seenRoots.has(cwd))
        if (fresh.length === 0 && seenRoots.size > 0) return Effect.void
        for (const cwd of fresh) seenRoots.add(cwd)
        return files.add(watchCandidates({ ...options, cwds: fresh }), seen)
      }
      yield* watchRoots(early?.options ?? { home: paths.home, codexHome: paths.codexHome, cwds: [] }, early?.seen)

      const service = MarketplaceDiscovery.of({
        // the roots are watched before discovery looks, so a file created meanwhile is reported
        discover: (options) => watchRoots(options).pipe(Effect.andThen(discovery.service.discover(options))),
        load: discovery.service.load,
        known: discovery.service.known
      })
      const watcher = MarketplaceWatcher.of({
        subscribe: PubSub.subscribe(pubsub),
        // relative paths are rejected by the request itself; nothing to watch for them
        watchFile: (marketplacePath) =>
          Effect.sync(() => {
            if (!NodePath.isAbsolute(marketplacePath)) return Effect.void
            const path = NodePath.resolve(marketplacePath)
            return files.add([path], new Map([[path, signatureOf(path, true)]]))
          }),
        cacheStats: Effect.sync(discovery.caches.stats)
      })
      return Context.make(MarketplaceWatcher, watcher).pipe(Context.add(MarketplaceDiscovery, service))
    })
  )

  static readonly layer: Layer.Layer<MarketplaceWatcher | MarketplaceDiscovery, never, LedgerConfig | PathWatch> =
    MarketplaceWatcher.layerAfter(undefined)
}
