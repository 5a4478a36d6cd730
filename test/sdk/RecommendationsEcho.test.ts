/**
 * recommendations-echo as a child process. Conformance case 64 recommendations_echo: get -> cached false,
 * generatedAt, recommendations[0] {externalId 'echo-rec-1', basedOn ['Berserk'], reason mentions Berserk,
 * 0 < score <= 1, inLibrary false}; limit and excludeIds honoured; dismiss {dismissed:true}; clear
 * {cleared:true}; updateProfile with 2 entries {updated:true, entriesProcessed:2}. Dismissals persist in storage.
 */
import { describe, expect, it } from "vitest"
import { PluginWire, RECOMMENDATIONS_ECHO } from "./PluginWire.ts"

const entry = (title: string) => ({
  seriesId: `series-${title}`,
  title,
  alternateTitles: [],
  genres: [],
  tags: [],
  externalIds: [],
  booksRead: 1,
  booksOwned: 1
})

describe("recommendations-echo", () => {
  it("get, limit, excludeIds, dismiss (kept in storage), clear, updateProfile", async () => {
    const wire = new PluginWire(RECOMMENDATIONS_ECHO)
    await wire.initialize({ userConfig: {} })
    const got = await wire.call("recommendations/get", { library: [entry("Berserk")], excludeIds: [] })
    expect(got).toMatchObject({ cached: false, generatedAt: expect.any(String) })
    expect(got).toHaveProperty("recommendations.0", expect.objectContaining({ externalId: "echo-rec-1", basedOn: ["Berserk"], inLibrary: false }))
    const first = (got as { recommendations: Array<{ reason: string; score: number }> }).recommendations[0]
    expect(first?.reason).toContain("Berserk")
    expect(first?.score).toBeGreaterThan(0)
    expect(first?.score).toBeLessThanOrEqual(1)

    const library = [entry("A"), entry("B"), entry("C")]
    const ids = async (params: Record<string, unknown>) =>
      ((await wire.call("recommendations/get", { library, ...params })) as { recommendations: Array<{ externalId: string }> }).recommendations.map(
        (r) => r.externalId
      )
    expect(await ids({ limit: 2 })).toEqual(["echo-rec-1", "echo-rec-2"])
    expect(await ids({ excludeIds: ["echo-rec-2"] })).toEqual(["echo-rec-1", "echo-rec-3"])

    expect(await wire.call("recommendations/dismiss", { externalId: "echo-rec-1", reason: "not_interested" })).toEqual({ dismissed: true })
    expect(wire.store.values.get("dismissed")?.data).toEqual(["echo-rec-1"])
    expect(await ids({})).toEqual(["echo-rec-2", "echo-rec-3"])
    expect(await wire.call("recommendations/clear", {})).toEqual({ cleared: true })
    expect(wire.store.values.has("dismissed")).toBe(false)
    expect(await ids({})).toEqual(["echo-rec-1", "echo-rec-2", "echo-rec-3"])
    expect(await wire.call("recommendations/updateProfile", { entries: [entry("A"), entry("B")] })).toEqual({ updated: true, entriesProcessed: 2 })
    await wire.kill()
  })

  it("refuses bad params with -32602 and unknown dismiss reasons", async () => {
    const wire = new PluginWire(RECOMMENDATIONS_ECHO)
    await wire.initialize()
    expect((await wire.request("recommendations/get", {}))["error"]).toEqual({
      code: -32602,
      message: "Invalid params: library is required",
      data: { field: "library" }
    })
    expect((await wire.request("recommendations/get", { library: [{ title: "x" }] }))["error"]).toMatchObject({ code: -32602, data: { field: "seriesId" } })
    expect((await wire.request("recommendations/dismiss", {}))["error"]).toMatchObject({ code: -32602, message: "Invalid params: externalId is required" })
    expect((await wire.request("recommendations/dismiss", { externalId: "x", reason: "meh" }))["error"]).toMatchObject({ code: -32602, data: { field: "reason" } })
    expect(wire.store.calls).toEqual([])
    await wire.kill()
  })
})
