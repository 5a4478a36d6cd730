/**
 * `plugin/capabilitiesChanged`: after every batch of records the log tailer publishes (an event, an adopted hand
 * edit, a repair, by this process or another), the capability answer is computed again and, when it differs from
 * the last one, the difference is published once, to every session.
 */
import { Context, Effect, Layer, PubSub, type Scope, Stream } from "effect"
import { type CapabilityDiff, diffCapabilities } from "../domain/CapabilityDiff.ts"
import { CapabilitiesService, type CapabilitiesView } from "./Capabilities.ts"
import { LogTailer } from "./LogTailer.ts"

export interface CapabilitiesChanged {
  readonly seq: number
  readonly at: string | null
  readonly changes: CapabilityDiff
}

export class CapabilityFeed extends Context.Service<CapabilityFeed, {
  readonly subscribe: Effect.Effect<PubSub.Subscription<CapabilitiesChanged>, never, Scope.Scope>
}>()("plugin-ledger/services/CapabilityFeed") {
  static readonly layer: Layer.Layer<CapabilityFeed, never, CapabilitiesService | LogTailer> = Layer.effect(
    CapabilityFeed,
    Effect.gen(function*() {
      const capabilities = yield* CapabilitiesService
      const tailer = yield* LogTailer
      const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<CapabilitiesChanged>(), PubSub.shutdown)
      const records = yield* tailer.subscribe
      // computed before the layer is up, from the same log position the subscription starts after, so no change
      // between the two can be missed (cold cost: ~130 ms for 200 plugins, see bench:capabilities)
      let last: CapabilitiesView | undefined = yield* capabilities.current.pipe(Effect.option, Effect.map((o) => o._tag === "Some" ? o.value : undefined))
      const recompute = capabilities.current.pipe(
        Effect.flatMap((now) =>
          Effect.suspend(() => {
            const before = last
            last = now
            const changes = before === undefined ? null : diffCapabilities(before, now)
            return changes === null ? Effect.void : PubSub.publish(pubsub, { seq: now.seq, at: now.at, changes })
          })
        ),
        Effect.catch((e) => Effect.logWarning(`could not compute capabilities: ${e.message}`))
      )
      // records come in bursts (a transaction's events): one computation per burst
      yield* Stream.fromSubscription(records).pipe(
        Stream.debounce("5 millis"),
        Stream.runForEach(() => recompute),
        Effect.forkScoped
      )
      return CapabilityFeed.of({ subscribe: PubSub.subscribe(pubsub) })
    })
  )
}
