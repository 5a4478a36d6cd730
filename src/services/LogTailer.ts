/**
 * Every record appended to the log, published once and in seq order while the process runs: this process's own
 * appends as soon as their transaction is done (it wraps the EventLog the Engine uses), other processes' (a CLI
 * run while the daemon is up) when a watch on the log's directory reports a write and `refresh` reads them.
 * Records that were in the log when the tailer started are history, not news: they are not published.
 */
import { Context, Effect, Layer, PubSub, type Scope, Stream } from "effect"
import * as NodePath from "node:path"
import { EventLog, type LogRecord, recordsAfter } from "./EventLog.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { PathWatch } from "./PathWatch.ts"
import { whenStarted } from "./StartupGate.ts"

export class LogTailer extends Context.Service<LogTailer, {
  /** the records published after this subscription, in seq order, each once; ends with the scope */
  readonly subscribe: Effect.Effect<PubSub.Subscription<LogRecord>, never, Scope.Scope>
  /**
   * Every record after `seq`, in seq order, each once: those already published (read back from the log), then
   * those published from now on; ends with the scope. For a client whose session began before this process had
   * the log open (`serve` answers `initialize` first).
   */
  readonly subscribeAfter: (seq: number) => Effect.Effect<Stream.Stream<LogRecord>, never, Scope.Scope>
  /** reads what other processes appended and publishes every record not yet published */
  readonly catchUp: Effect.Effect<void>
  /** the seq of the last record published (or known at start) */
  readonly lastSeq: Effect.Effect<number>
}>()("plugin-ledger/services/LogTailer") {
  /** Provides the tailer and, in place of the EventLog it is given, one whose appends it publishes. */
  static readonly layer: Layer.Layer<LogTailer | EventLog, never, EventLog | LedgerConfig | PathWatch> = Layer.effectContext(
    Effect.gen(function*() {
      const log = yield* EventLog
      const paths = yield* LedgerConfig
      const watch = yield* PathWatch
      const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<LogRecord>(), PubSub.shutdown)
      let published = (yield* log.records).at(-1)?.seq ?? 0

      /**
       * Publishes the records after `published`: one synchronous step (the PubSub is unbounded, so a publication never
       * waits), so two callers cannot interleave them, without a lock (a lock's effects ran on every command)
       */
      const publishNew = Effect.map(log.live, (records) => {
        const fresh = recordsAfter(records, published)
        if (fresh.length === 0) return
        published = fresh.at(-1)?.seq ?? published
        for (const record of fresh) PubSub.publishUnsafe(pubsub, record)
      })

      const catchUp = log.refresh.pipe(
        Effect.catch((error) => Effect.logWarning(`could not read the log's new records: ${error.message}`)),
        Effect.andThen(publishNew)
      )

      // every segment lives in events/; a write there by anyone is a reason to look (the process's own appends are
      // published without it, so in `serve` it can wait for the first answer)
      yield* whenStarted(Effect.gen(function*() {
        yield* watch.watch([NodePath.join(paths.ledgerDir, "events")], () => catchUp, { children: true, debounceMs: 10 })
        // appended between the log's open and the watch
        yield* catchUp
      }))

      const wrapped = EventLog.of({
        records: log.records,
        live: log.live,
        recordById: log.recordById,
        recordsAfter: log.recordsAfter,
        refresh: log.refresh.pipe(Effect.tap(() => publishNew)),
        transact: (decide, afterAppend) => log.transact(decide, afterAppend).pipe(Effect.ensuring(publishNew)),
        tailRepair: log.tailRepair,
        get readOnlyReason() {
          return log.readOnlyReason
        },
        refuseWrites: log.refuseWrites,
        verify: log.verify
      })
      // no record is both read back and delivered, nor missed between the two: what was published by the time the
      // subscription exists is read back (up to `upTo`, read after subscribing), and the subscription delivers only
      // what comes after it (a publication between the subscription and that read reaches both: read back only)
      const subscribeAfter = (seq: number) =>
        Effect.gen(function*() {
          const subscription = yield* PubSub.subscribe(pubsub)
          const upTo = published
          const missed = (yield* log.recordsAfter(seq)).filter((record) => record.seq <= upTo)
          return Stream.concat(
            Stream.fromIterable(missed),
            Stream.fromSubscription(subscription).pipe(Stream.filter((record) => record.seq > upTo))
          )
        })

      const tailer = LogTailer.of({
        subscribe: PubSub.subscribe(pubsub),
        subscribeAfter,
        catchUp,
        lastSeq: Effect.sync(() => published)
      })
      return Context.make(LogTailer, tailer).pipe(Context.add(EventLog, wrapped))
    })
  )
}
