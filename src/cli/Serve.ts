import { Effect, Fiber } from "effect"
import { makeCodexSession } from "../rpc/CodexServer.ts"
import { type PeerHandlers, servePeer } from "../rpc/JsonRpcPeer.ts"
import { makeSessionNotifications } from "../rpc/Notifications.ts"
import { seqAtLogMark } from "../adapters/LogMark.ts"
import { stdioChannel, streamChannel } from "../rpc/StdioChannel.ts"
import { LedgerConfig } from "../services/LedgerConfig.ts"
import { adoptHandEdits } from "../services/ConfigWatcher.ts"
import { StartupGate, whenStarted } from "../services/StartupGate.ts"
import type { EarlyStart } from "./EarlyInitialize.ts"
import { makeQuietRelease, reportingActivity } from "./MemoryTuning.ts"
import { exitCleanlyWhenInterrupted } from "./Shutdown.ts"

/** a client that has sent no request this long after the session began gets the deferred start-up work at once */
const QUIET_MS = 100

/**
 * The session's handlers, opening the start-up gate (if there is one) once the first request is answered, or
 * after `QUIET_MS` if no request has arrived by then.
 */
const openingTheGate = (handlers: PeerHandlers, answeredBefore: boolean) =>
  Effect.gen(function*() {
    const gate = yield* Effect.serviceOption(StartupGate)
    if (gate._tag === "None") return handlers
    const { open } = gate.value
    // the first request was answered before the engine was loaded (EarlyList.ts)
    if (answeredBefore) {
      yield* open
      return handlers
    }
    const quiet = yield* Effect.sleep(QUIET_MS).pipe(Effect.andThen(open), Effect.forkScoped)
    const answered = handlers.answered
    // once an answer has opened the gate, `quiet` is over and the gate open: later requests skip both (no effects
    // of their own on every request)
    let opened = false
    const openAfter = open.pipe(Effect.andThen(Effect.sync(() => {
      opened = true
    })))
    return {
      ...handlers,
      request: (request) => opened ? handlers.request(request) : Fiber.interrupt(quiet).pipe(Effect.andThen(handlers.request(request))),
      answered: (request) =>
        opened
          ? (answered === undefined ? Effect.void : answered(request))
          : (answered === undefined ? openAfter : answered(request).pipe(Effect.andThen(openAfter)))
    } satisfies PeerHandlers
  })

/**
 * Serves the Codex app-server dialect on stdin/stdout until stdin ends (then drains in-flight requests) or a
 * SIGTERM/SIGINT arrives (then answers the request being handled and stops reading). `early`: `initialize` may
 * have been answered already, before the engine was loaded (EarlyInitialize.ts); the session reads on from there.
 */
export const serveStdio = (early?: EarlyStart) => Effect.gen(function*() {
  yield* exitCleanlyWhenInterrupted
  // in the background, after the first answer: the engine's start-up already adopted what was edited before
  yield* whenStarted(Effect.forkScoped(adoptHandEdits))
  const notifications = yield* makeSessionNotifications
  const paths = yield* LedgerConfig
  const answered = early?.initialized
  const session = yield* makeCodexSession({
    notifications,
    ...(answered === undefined
      ? {}
      : { initialized: { clientName: answered.clientName, afterSeq: seqAtLogMark(paths.ledgerDir, answered.mark) } })
  })
  const handlers = yield* openingTheGate(session, early?.listed !== undefined)
  // the heap's free pages go back after every busy period, the first one being the start-up (the client that
  // waits for the first answers is not held up: this runs once the session is quiet)
  const busy = makeQuietRelease()
  busy()
  const channel = early === undefined ? stdioChannel() : streamChannel(early.input.rest, process.stdout, early.input.head)
  yield* servePeer(reportingActivity(channel, busy), handlers)
  yield* Effect.logDebug("stdin closed; all requests answered")
}).pipe(Effect.scoped)
