import { Effect } from "effect"
import { makeCodexSession } from "../rpc/CodexServer.ts"
import { servePeer } from "../rpc/JsonRpcPeer.ts"
import { stdioChannel } from "../rpc/StdioChannel.ts"

/** Serves the Codex app-server dialect on stdin/stdout until stdin ends, then drains in-flight requests. */
export const serveStdio = Effect.gen(function*() {
  const session = yield* makeCodexSession()
  yield* servePeer(stdioChannel(), session)
  yield* Effect.logDebug("stdin closed; all requests answered")
})
