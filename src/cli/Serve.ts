import { Effect } from "effect"
import { makeCodexSession } from "../rpc/CodexServer.ts"
import { servePeer } from "../rpc/JsonRpcPeer.ts"
import { stdioChannel } from "../rpc/StdioChannel.ts"
import { watchConfigFile } from "../services/ConfigWatcher.ts"
import { Engine } from "../services/EngineApi.ts"
import type { LedgerPaths } from "../services/LedgerConfig.ts"

/** Adopts hand edits of config.toml whenever the file changes, for as long as the scope lives. */
export const adoptHandEdits = (paths: LedgerPaths) =>
  Effect.gen(function*() {
    const engine = yield* Engine
    yield* watchConfigFile(
      paths.configPath,
      engine.adoptConfigEdits.pipe(
        Effect.tap((adopted) => adopted.length === 0 ? Effect.void : Effect.logInfo(`adopted ${adopted.length} change(s) of config.toml`)),
        Effect.catch((error) => Effect.logWarning(`could not adopt config.toml changes: ${error.message}`))
      )
    )
  })

/** Serves the Codex app-server dialect on stdin/stdout until stdin ends, then drains in-flight requests. */
export const serveStdio = (paths: LedgerPaths) =>
  Effect.scoped(Effect.gen(function*() {
    // in the background: answering `initialize` does not wait for the watch to be set up
    yield* Effect.forkScoped(adoptHandEdits(paths))
    const session = yield* makeCodexSession()
    yield* servePeer(stdioChannel(), session)
    yield* Effect.logDebug("stdin closed; all requests answered")
  }))
