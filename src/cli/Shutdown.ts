import { Effect, Exit } from "effect"

/**
 * For `serve` and `daemon`: SIGTERM and SIGINT interrupt the main fiber (NodeRuntime.runMain); requests that have
 * begun are uninterruptible (JsonRpcPeer), so by the time the interruption is through they are answered, the log
 * appended and fsynced and the ledger lock released. That is a clean stop, so the exit code is 0, not 130.
 */
export const exitCleanlyWhenInterrupted = Effect.addFinalizer((exit) =>
  Effect.gen(function*() {
    if (Exit.isFailure(exit) && Exit.hasInterrupts(exit)) {
      yield* Effect.logInfo("shut down on a signal: in-flight requests answered")
      process.exitCode = 0
    }
  })
)
