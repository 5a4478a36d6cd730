/**
 * `plugin/capabilitiesChanged`: the capability answer is computed again after every batch of records the log
 * tailer publishes (an event, an adopted hand edit, a repair, by this process or another), after every change of
 * config.toml (`[features] plugins`, `[mcp_servers]`: not events) and after every change in the cached bundles
 * of active plugins (hand edits: not events either); when it differs from the last one, the difference is
 * published once, to every session.
 *
 * Start-up does not wait for the first answer (cold: ~130 ms for 200 plugins, see bench:capabilities): the layer
 * subscribes to the tailer and notes the log position, then computes the baseline for exactly that position in
 * the background; records that arrive meanwhile wait in the subscription and are folded in right after it.
 */
import { Context, Effect, Layer, PubSub, Queue, type Scope, Stream } from "effect"
import { type CapabilityDiff, diffCapabilities } from "../domain/CapabilityDiff.ts"
import { makeBundleDirectories } from "./BundleDirectories.ts"
import { CapabilitiesService, type CapabilitiesView } from "./Capabilities.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { LogTailer } from "./LogTailer.ts"
import { PathWatch } from "./PathWatch.ts"
import { whenStarted } from "./StartupGate.ts"

export interface CapabilitiesChanged {
  readonly seq: number
  readonly at: string | null
  readonly changes: CapabilityDiff
}

export class CapabilityFeed extends Context.Service<CapabilityFeed, {
  readonly subscribe: Effect.Effect<PubSub.Subscription<CapabilitiesChanged>, never, Scope.Scope>
}>()("plugin-ledger/services/CapabilityFeed") {
  static readonly layer: Layer.Layer<CapabilityFeed, never, CapabilitiesService | LogTailer | PathWatch | LedgerConfig> = Layer.effect(
    CapabilityFeed,
    Effect.gen(function*() {
      const capabilities = yield* CapabilitiesService
      const tailer = yield* LogTailer
      const watch = yield* PathWatch
      const paths = yield* LedgerConfig
      const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<CapabilitiesChanged>(), PubSub.shutdown)
      // first the subscription, then the position: every record after `startSeq` arrives in `records`
      const records = yield* tailer.subscribe
      const startSeq = yield* tailer.lastSeq
      const triggers = yield* Queue.unbounded<void>()
      const poke = Queue.offer(triggers, undefined).pipe(Effect.asVoid)

      yield* watch.watch([paths.configPath], () => poke, { debounceMs: 30 })
      const directories = makeBundleDirectories()
      const bundles = yield* watch.watch([], (change) =>
        Effect.sync(() => directories.touched(change.path)).pipe(
          Effect.andThen(capabilities.forget(change.path)),
          Effect.andThen(poke)
        ), { children: true })
      /**
       * Watches the bundle directories of `view` not watched yet. A hand edit made after `view` was read and before
       * such a watch opened would be missed, so those plugins are read again once (the next answer has no new ones).
       */
      const watchBundles = (view: CapabilitiesView) =>
        Effect.gen(function*() {
          const fresh = directories.fresh(view)
          if (fresh.length === 0) return
          yield* bundles.add(fresh)
          yield* Effect.forEach(fresh, capabilities.forget, { discard: true })
          yield* poke
        })

      let last: CapabilitiesView | undefined
      const publishDifference = (now: CapabilitiesView) =>
        Effect.suspend(() => {
          const before = last
          last = now
          const changes = before === undefined ? null : diffCapabilities(before, now)
          return changes === null ? Effect.void : PubSub.publish(pubsub, { seq: now.seq, at: now.at, changes })
        })
      const warn = (e: { readonly message: string }) => Effect.logWarning(`could not compute capabilities: ${e.message}`)
      const recompute = capabilities.current.pipe(
        Effect.tap(publishDifference),
        Effect.flatMap(watchBundles),
        Effect.catch(warn)
      )

      const run = Effect.gen(function*() {
        yield* capabilities.upTo(startSeq).pipe(
          Effect.tap((baseline) => Effect.sync(() => {
            last = baseline
          })),
          Effect.flatMap(watchBundles),
          Effect.catch(warn)
        )
        // records come in bursts (a transaction's events) and file events in bursts too: one computation per burst
        yield* Stream.fromQueue(triggers).pipe(Stream.debounce("5 millis"), Stream.runForEach(() => recompute))
      })
      yield* Stream.fromSubscription(records).pipe(Stream.runForEach(() => poke), Effect.forkScoped({ startImmediately: true }))
      // the baseline is for `startSeq` whenever it is computed: in `serve`, after the first answer
      yield* whenStarted(Effect.forkScoped(run, { startImmediately: true }))
      return CapabilityFeed.of({ subscribe: PubSub.subscribe(pubsub) })
    })
  )
}
