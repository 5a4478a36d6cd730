/**
 * sync-echo as a child process. Conformance cases checked here: 61 sync_push_response_shape (success/failed of
 * {externalId, status}), 62 sync_pull_request_shape ({since, limit} and {} both accepted; cursor paging),
 * 63 sync_echo_push_pull_status adapted: the reference's sync-echo invents `pullCount` entries, ours pulls back
 * what was pushed (kept in host storage); the response shapes asserted are the same (push success/failed,
 * pull entries/hasMore, status externalCount/pendingPush/conflicts).
 */
import { describe, expect, it } from "vitest"
import { FakeHostStore, PluginWire, SYNC_ECHO } from "./PluginWire.ts"

const started = async (store?: FakeHostStore) => {
  const wire = new PluginWire(SYNC_ECHO, store === undefined ? {} : { store })
  await wire.initialize({ credentials: { access_token: "t" }, userId: "user-1" })
  return wire
}

describe("sync-echo", () => {
  it("push, pull and status round trip through host storage, across a restart", async () => {
    const store = new FakeHostStore()
    const wire = await started(store)
    const entries = [
      { externalId: "a", status: "reading", progress: { chapters: 3 }, libraryId: "lib" },
      { externalId: "b", status: "completed" },
      { externalId: "c", status: "dropped" }
    ]
    expect(await wire.call("sync/pushProgress", { entries })).toEqual({
      success: [
        { externalId: "a", status: "created" },
        { externalId: "b", status: "created" },
        { externalId: "c", status: "created" }
      ],
      failed: []
    })
    expect(await wire.call("sync/pushProgress", { entries: [{ externalId: "b", status: "on_hold" }] })).toEqual({
      success: [{ externalId: "b", status: "updated" }],
      failed: []
    })
    await wire.call("shutdown")
    await wire.exit

    const again = await started(store)
    const all = await again.call("sync/pullProgress", {})
    expect(all).toEqual({
      entries: [
        { externalId: "a", status: "reading", progress: { chapters: 3 }, libraryId: "lib" },
        { externalId: "b", status: "on_hold" },
        { externalId: "c", status: "dropped" }
      ],
      hasMore: false
    })
    const page1 = await again.call("sync/pullProgress", { since: "2026-02-01T00:00:00Z", limit: 2 })
    expect(page1).toMatchObject({ entries: [{ externalId: "a" }, { externalId: "b" }], hasMore: true, nextCursor: "2" })
    expect(await again.call("sync/pullProgress", { limit: 2, cursor: "2" })).toEqual({ entries: [{ externalId: "c", status: "dropped" }], hasMore: false })
    expect(await again.call("sync/status", {})).toEqual({
      externalCount: 3,
      pendingPush: 0,
      pendingPull: 0,
      conflicts: 0,
      lastSyncAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/)
    })
    await again.kill()
  })

  it("getUserInfo without credentials is -32003; bad entries are -32602 and store nothing", async () => {
    const wire = new PluginWire(SYNC_ECHO)
    await wire.initialize({})
    expect((await wire.request("sync/getUserInfo", {}))["error"]).toEqual({ code: -32003, message: "No access token" })
    const bad: ReadonlyArray<readonly [unknown, unknown]> = [
      [{}, { code: -32602, message: "Invalid params: entries is required", data: { field: "entries" } }],
      [{ entries: {} }, { code: -32602, message: "Invalid params: entries must be an array", data: { field: "entries" } }],
      [{ entries: [7] }, { code: -32602, message: "Invalid params: entries[0] must be an object", data: { field: "entries[0]" } }],
      [
        { entries: [{ externalId: "a", status: "finished" }] },
        {
          code: -32602,
          message: "Invalid params: entries[0].status must be one of reading, completed, on_hold, dropped, plan_to_read",
          data: { field: "entries[0].status" }
        }
      ],
      [{ entries: [{ status: "reading" }] }, { code: -32602, message: "Invalid params: externalId is required", data: { field: "externalId" } }]
    ]
    for (const [params, error] of bad) expect((await wire.request("sync/pushProgress", params))["error"]).toEqual(error)
    expect((await wire.request("sync/pullProgress", { limit: "ten" }))["error"]).toMatchObject({ code: -32602 })
    expect(wire.store.calls).toEqual([])
    await wire.kill()
  })
})
