/**
 * Start-up work a process can do after its first answer. `serve` answers `initialize` before its engine is loaded,
 * so the client's next request (typically `plugin/list`) waits for the engine's start-up: whatever that request does
 * not need (the log directory's watch, the capability feed's first answer, the hand-edit watch's first look) waits
 * for this gate, which `serve` opens once it has answered its first request (or once its client has been quiet for
 * a moment). Without the gate in the context (`daemon`, the CLI, tests) nothing waits.
 */
import { Context, Deferred, Effect, Layer, type Scope } from "effect"

export class StartupGate extends Context.Service<StartupGate, {
  /** completes once the gate is open */
  readonly opened: Effect.Effect<void>
  /** opens the gate (again: nothing) */
  readonly open: Effect.Effect<void>
}>()("plugin-ledger/services/StartupGate") {
  /** A closed gate. */
  static readonly layer: Layer.Layer<StartupGate> = Layer.effect(
    StartupGate,
    Effect.map(Deferred.make<void>(), (gate) =>
      StartupGate.of({ opened: Deferred.await(gate), open: Deferred.succeed(gate, undefined).pipe(Effect.asVoid) }))
  )
}

/**
 * Runs `work` now when there is no gate; with one, in a fiber of the current scope that waits for the gate to open
 * (the caller goes on at once).
 */
export const whenStarted = <R>(work: Effect.Effect<unknown, never, R>): Effect.Effect<void, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const gate = yield* Effect.serviceOption(StartupGate)
    if (gate._tag === "None") yield* work
    else yield* Effect.forkScoped(gate.value.opened.pipe(Effect.andThen(work)))
  })
