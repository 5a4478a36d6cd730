/**
 * Server notifications through a Codex session and the peer, over an in-memory channel: nothing before the
 * `initialize` answer, then every published notification as one whole line, in order; and the `plugin/changed`
 * params are the history entry of the record.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Cause, Deferred, Effect, Fiber, Queue, Stream } from "effect"
import { makeCodexSession } from "../../src/rpc/CodexServer.ts"
import { encodeNotification, type LineChannel, type OutgoingNotification, servePeer } from "../../src/rpc/JsonRpcPeer.ts"
import { marketplaceChanged, pluginChanged, RECENT_NOTIFICATIONS, type SessionNotifications } from "../../src/rpc/Notifications.ts"
import { Engine, internalError } from "../../src/services/EngineApi.ts"
import type { LogRecord } from "../../src/services/EventLog.ts"

const record = (seq: number, type: string, data: unknown): LogRecord => ({
  seq,
  id: `k:${seq}`,
  ts: "2026-01-02T03:04:05.678Z",
  type,
  data,
  prev: "0".repeat(32),
  h: "1".repeat(32)
})

const cause = { actor: "rpc", requestId: "7", client: "tui" } as const

/** An Engine no test here reaches. */
const unusedEngine = Engine.of({
  list: () => Effect.fail(internalError("unused")),
  read: () => Effect.fail(internalError("unused")),
  install: () => Effect.fail(internalError("unused")),
  uninstall: () => Effect.fail(internalError("unused")),
  setEnabled: () => Effect.fail(internalError("unused")),
  history: () => Effect.fail(internalError("unused")),
  why: () => Effect.fail(internalError("unused")),
  verify: () => Effect.fail(internalError("unused")),
  adoptConfigEdits: Effect.fail(internalError("unused")),
  syncRemote: () => Effect.fail(internalError("unused")),
  syncCurated: () => Effect.fail(internalError("unused")),
  rollback: () => Effect.fail(internalError("unused")),
  replay: () => Effect.fail(internalError("unused"))
})

describe("plugin/changed", () => {
  it("carries the history entry of the record, its plugin, cause and seq", () => {
    const enabled = pluginChanged(record(5, "PluginEnabled", { pluginId: "a@m", cause }))
    assert.deepStrictEqual(enabled, {
      method: "plugin/changed",
      params: {
        pluginId: "a@m",
        event: { seq: 5, at: "2026-01-02T03:04:05.678Z", type: "PluginEnabled", pluginId: "a@m", cause, data: { pluginId: "a@m", cause } },
        cause,
        seq: 5
      }
    })
    const genesis = pluginChanged(record(1, "LogCreated", { logId: "x", format: 1 }))
    assert.deepStrictEqual([genesis?.method, Reflect.get(Object(genesis?.params), "pluginId")], ["plugin/changed", null])
    assert.isUndefined(pluginChanged(record(9, "SomethingFromTheFuture", {})), "not an event this version shows")
  })

  it("keeps the notifications of the last records only; an older record's is built again, equal", () => {
    const first = record(100, "PluginEnabled", { pluginId: "a@m", cause })
    const notification = pluginChanged(first)
    for (let seq = 101; seq <= 100 + RECENT_NOTIFICATIONS; seq++) pluginChanged(record(seq, "PluginEnabled", { pluginId: "a@m", cause }))
    const again = pluginChanged(first)
    assert.notStrictEqual(again, notification, "not kept for good: every record would hold its notification")
    assert.deepStrictEqual(again, notification)
  })

  it("is one line of JSON, the same object and line for every session", () => {
    const r = record(3, "PluginDisabled", { pluginId: "a\nb@m", cause })
    const first = pluginChanged(r)
    assert.strictEqual(pluginChanged(r), first)
    if (first === undefined) return assert.fail("no notification")
    const line = encodeNotification(first)
    assert.notInclude(line, "\n")
    assert.deepStrictEqual(JSON.parse(line), first)
    assert.deepStrictEqual(JSON.parse(encodeNotification(marketplaceChanged({ marketplacePath: "/m.json", kind: "deleted" }))), {
      method: "marketplace/changed",
      params: { marketplacePath: "/m.json", kind: "deleted" }
    })
  })
})

describe("a session's notifications", () => {
  it.live("start with the initialize answer and go out whole, in order, until the connection ends", () =>
    Effect.gen(function*() {
      const published = yield* Queue.unbounded<OutgoingNotification>()
      const subscribed = yield* Deferred.make<void>()
      const notifications: SessionNotifications = {
        subscribe: () => Deferred.succeed(subscribed, undefined).pipe(Effect.as(Stream.fromQueue(published))),
        marketplaceUsed: () => Effect.succeed(Effect.void)
      }
      const input = yield* Queue.unbounded<string, Cause.Done>()
      const written: Array<string> = []
      const channel: LineChannel = {
        lines: Stream.fromQueue(input),
        write: (line) => Effect.sync(() => void written.push(line))
      }
      const session = yield* makeCodexSession({ notifications }).pipe(Effect.provideService(Engine, unusedEngine))
      const serving = yield* servePeer(channel, session).pipe(Effect.forkChild({ startImmediately: true }))

      // before initialize: a published notification is not this session's
      yield* Queue.offer(published, { method: "plugin/changed", params: { seq: 1 } })
      yield* Queue.offer(input, JSON.stringify({ id: 0, method: "plugin/list", params: {} }))
      yield* Effect.sleep("50 millis")
      assert.isFalse(yield* Deferred.isDone(subscribed))
      yield* Queue.take(published) // what a subscription made later would never see

      yield* Queue.offer(input, JSON.stringify({ id: 1, method: "initialize", params: { clientInfo: { name: "t", title: null, version: "1" } } }))
      yield* Deferred.await(subscribed)
      for (const seq of [2, 3, 4]) yield* Queue.offer(published, { method: "plugin/changed", params: { seq } })
      for (let i = 0; i < 100 && written.length < 5; i++) yield* Effect.sleep("10 millis")
      yield* Queue.end(input) // the connection's input ends
      yield* Fiber.join(serving)

      assert.strictEqual(written.length, 5, written.join("\n"))
      assert.strictEqual(JSON.parse(written[0] ?? "")?.error?.message, "Not initialized")
      assert.strictEqual(JSON.parse(written[1] ?? "")?.id, 1, "the initialize answer comes first")
      assert.deepStrictEqual(written.slice(2).map((line) => JSON.parse(line)), [2, 3, 4].map((seq) => ({ method: "plugin/changed", params: { seq } })))
    }))
})
