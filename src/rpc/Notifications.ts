/**
 * Server -> client notifications, our extensions of the Codex dialect (sent only to initialized sessions):
 * `plugin/changed` `{pluginId, event, cause, seq}` for every record appended to the log (by this process or
 * another; `event` is the `plugin/history` entry), and `marketplace/changed` `{marketplacePath, kind}` when a
 * watched marketplace file is created, changed or deleted.
 */
import { Effect, Scope, Stream } from "effect"
import type { HistoryEntryView } from "../domain/PluginViews.ts"
import type { LogRecord } from "../services/EventLog.ts"
import { historyEntryOf } from "../services/Audit.ts"
import { CapabilityFeed } from "../services/CapabilityFeed.ts"
import { LogTailer } from "../services/LogTailer.ts"
import { type MarketplaceChange, MarketplaceWatcher } from "../services/MarketplaceWatcher.ts"
import type { OutgoingNotification } from "./JsonRpcPeer.ts"

export interface PluginChangedParams {
  readonly pluginId: string | null
  readonly event: HistoryEntryView
  readonly cause: HistoryEntryView["cause"]
  readonly seq: number
}

/** how many of the last records published keep their notification */
export const RECENT_NOTIFICATIONS = 256

/**
 * Every session is sent the same record, at about the same time: the notifications of the last records are kept,
 * so each is decoded (and encoded) once (null: not an event the history shows). Only the last ones: a record
 * lives as long as the log, and a notification with its encoded line kept for every record was a third of a
 * long-running daemon's heap after 10,000 events. A session lagging further behind builds an equal one again.
 */
const built = new Map<LogRecord, OutgoingNotification | null>()

export const pluginChanged = (record: LogRecord): OutgoingNotification | undefined => {
  const known = built.get(record)
  if (known !== undefined) return known ?? undefined
  const event = historyEntryOf(record)
  const params: PluginChangedParams | undefined = event === undefined
    ? undefined
    : { pluginId: event.pluginId, event, cause: event.cause, seq: event.seq }
  const notification = params === undefined ? null : { method: "plugin/changed", params }
  built.set(record, notification)
  for (const oldest of built.keys()) {
    if (built.size <= RECENT_NOTIFICATIONS) break
    built.delete(oldest)
  }
  return notification ?? undefined
}

export const marketplaceChanged = (change: MarketplaceChange): OutgoingNotification => ({
  method: "marketplace/changed",
  params: { marketplacePath: change.marketplacePath, kind: change.kind }
})

/** What a session needs to notify its client; see `SessionOptions` in CodexServer. */
export interface SessionNotifications {
  /**
   * Subscribes now (the session is being initialized); the stream carries everything published from then on,
   * and with `afterSeq`, every record appended after that seq (the session began before the log was open).
   */
  readonly subscribe: (afterSeq?: number) => Effect.Effect<Stream.Stream<OutgoingNotification>>
  /**
   * the client uses this marketplace file (e.g. installs from it): watch it too. Its look is taken now; the returned
   * effect adds the watch (run it once the command is done)
   */
  readonly marketplaceUsed: (marketplacePath: string) => Effect.Effect<Effect.Effect<void>>
}

/** One connection's notifications; the subscriptions end with the connection's scope. */
export const makeSessionNotifications: Effect.Effect<SessionNotifications, never, Scope.Scope | LogTailer | MarketplaceWatcher> = Effect.gen(
  function*() {
    const scope = yield* Effect.scope
    const tailer = yield* LogTailer
    const marketplaces = yield* MarketplaceWatcher
    const feed = yield* Effect.serviceOption(CapabilityFeed)
    return {
      subscribe: (afterSeq?: number) =>
        Effect.gen(function*() {
        const records = afterSeq === undefined ? Stream.fromSubscription(yield* tailer.subscribe) : yield* tailer.subscribeAfter(afterSeq)
        const changes = yield* marketplaces.subscribe
        // `plugin/capabilitiesChanged` where the process runs the capability feed (serve, daemon)
        const capabilities = feed._tag === "Some" ? Stream.fromSubscription(yield* feed.value.subscribe) : Stream.empty
        return Stream.mergeAll([
          records.pipe(
            Stream.map(pluginChanged),
            Stream.filter((n): n is OutgoingNotification => n !== undefined)
          ),
          Stream.fromSubscription(changes).pipe(Stream.map(marketplaceChanged)),
          capabilities.pipe(Stream.map((params): OutgoingNotification => ({ method: "plugin/capabilitiesChanged", params })))
        ], { concurrency: "unbounded" })
      }).pipe(Scope.provide(scope)),
      marketplaceUsed: marketplaces.watchFile
    }
  }
)
