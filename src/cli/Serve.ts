import { Effect } from "effect"
import { makeCodexSession } from "../rpc/CodexServer.ts"
import { servePeer } from "../rpc/JsonRpcPeer.ts"
import { makeSessionNotifications } from "../rpc/Notifications.ts"
import { seqAtLogMark } from "../adapters/LogMark.ts"
import { stdioChannel, streamChannel } from "../rpc/StdioChannel.ts"
import { LedgerConfig } from "../services/LedgerConfig.ts"
import { adoptHandEdits } from "../services/ConfigWatcher.ts"
import type { EarlyStart } from "./EarlyInitialize.ts"
import { keepYoungGenerationSmall } from "./MemoryTuning.ts"
import { exitCleanlyWhenInterrupted } from "./Shutdown.ts"

/**
 * Serves the Codex app-server dialect on stdin/stdout until stdin ends (then drains in-flight requests) or a
 * SIGTERM/SIGINT arrives (then answers the request being handled and stops reading). `early`: `initialize` may
 * have been answered already, before the engine was loaded (EarlyInitialize.ts); the session reads on from there.
 */
export const serveStdio = (early?: EarlyStart) => Effect.gen(function*() {
  keepYoungGenerationSmall()
  yield* exitCleanlyWhenInterrupted
  // in the background: answering `initialize` does not wait for the watch to be set up
  yield* Effect.forkScoped(adoptHandEdits)
  const notifications = yield* makeSessionNotifications
  const paths = yield* LedgerConfig
  const answered = early?.initialized
  const session = yield* makeCodexSession({
    notifications,
    ...(answered === undefined
      ? {}
      : { initialized: { clientName: answered.clientName, afterSeq: seqAtLogMark(paths.ledgerDir, answered.mark) } })
  })
  yield* servePeer(early === undefined ? stdioChannel() : streamChannel(early.input, process.stdout), session)
  yield* Effect.logDebug("stdin closed; all requests answered")
}).pipe(Effect.scoped)
