import { Effect } from "effect"
import { makeCodexSession } from "../rpc/CodexServer.ts"
import { servePeer } from "../rpc/JsonRpcPeer.ts"
import { makeSessionNotifications } from "../rpc/Notifications.ts"
import { stdioChannel } from "../rpc/StdioChannel.ts"
import { adoptHandEdits } from "../services/ConfigWatcher.ts"
import { keepYoungGenerationSmall } from "./MemoryTuning.ts"
import { exitCleanlyWhenInterrupted } from "./Shutdown.ts"

/**
 * Serves the Codex app-server dialect on stdin/stdout until stdin ends (then drains in-flight requests) or a
 * SIGTERM/SIGINT arrives (then answers the request being handled and stops reading).
 */
export const serveStdio = Effect.gen(function*() {
  keepYoungGenerationSmall()
  yield* exitCleanlyWhenInterrupted
  // in the background: answering `initialize` does not wait for the watch to be set up
  yield* Effect.forkScoped(adoptHandEdits)
  const notifications = yield* makeSessionNotifications
  const session = yield* makeCodexSession({ notifications })
  yield* servePeer(stdioChannel(), session)
  yield* Effect.logDebug("stdin closed; all requests answered")
}).pipe(Effect.scoped)
