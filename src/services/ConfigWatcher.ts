/**
 * Adopts hand edits of config.toml while a server runs: the file is watched (through the daemon's one file watch,
 * which also sees editors that save by writing a new file and renaming it over the old one), and every change runs
 * `Engine.adoptConfigEdits`, one at a time. No polling: idle costs nothing. One look right after the watch is set
 * up covers an edit made between the start-up check and then.
 */
import { Effect, type Scope } from "effect"
import { Engine } from "./EngineApi.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { PathWatch } from "./PathWatch.ts"

/** how long a burst of file events (write, rename, chmod of one save) is let settle before the file is read */
const settleMs = 30

export const adoptHandEdits: Effect.Effect<void, never, Engine | LedgerConfig | PathWatch | Scope.Scope> = Effect.gen(function*() {
  const engine = yield* Engine
  const paths = yield* LedgerConfig
  const watch = yield* PathWatch
  const adopt = engine.adoptConfigEdits.pipe(
    Effect.tap((adopted) => (adopted.length === 0 ? Effect.void : Effect.logInfo(`adopted ${adopted.length} hand edit(s) of config.toml`))),
    Effect.catch((error) => Effect.logWarning(`could not adopt config.toml changes: ${error.message}`)),
    Effect.asVoid
  )
  yield* watch.watch([paths.configPath], () => adopt, { debounceMs: settleMs })
  yield* adopt
})
