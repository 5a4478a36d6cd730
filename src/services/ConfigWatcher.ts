/**
 * Watches config.toml while the server runs and adopts hand edits through `Engine.adoptConfigEdits`. The watch is
 * on CODEX_HOME itself, not recursive (depth 0), so editors that save by writing a new file and renaming it over
 * the old one are seen too, and the ledger's own log appends below `ledger/` are not. Changes are coalesced: one
 * adoption runs at a time, and a change during a run triggers exactly one more. No polling: idle costs nothing.
 */
import { watch } from "chokidar"
import { Effect, Queue, type Scope } from "effect"
import * as Path from "node:path"

/** how long a burst of file events (write, rename, chmod of one save) is let settle before reading the file */
const settleMs = 30

export const watchConfigFile = (
  configPath: string,
  onChange: Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const changes = yield* Queue.sliding<void>(1)
    const target = Path.resolve(configPath)
    yield* Effect.acquireRelease(
      Effect.callback<ReturnType<typeof watch>>((resume) => {
        const watcher = watch(Path.dirname(target), { depth: 0, ignoreInitial: true, persistent: true })
        watcher.on("all", (_event, path) => {
          if (Path.resolve(path) === target) Queue.offerUnsafe(changes, undefined)
        })
        watcher.on("error", () => Queue.offerUnsafe(changes, undefined))
        watcher.on("ready", () => {
          // one look right away: an edit made between the start-up check and now is not missed
          Queue.offerUnsafe(changes, undefined)
          resume(Effect.succeed(watcher))
        })
      }),
      (watcher) => Effect.promise(() => watcher.close())
    )
    yield* Queue.take(changes).pipe(
      Effect.andThen(Effect.sleep(settleMs)),
      Effect.andThen(Queue.clear(changes)),
      Effect.andThen(onChange),
      Effect.forever,
      Effect.forkScoped
    )
  })
