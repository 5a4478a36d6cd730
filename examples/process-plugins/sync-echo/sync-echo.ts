/**
 * Sync echo plugin: what the host pushes is kept in host storage and pulled back; progress "on the external
 * service" is just that stored copy. Run: `node examples/process-plugins/sync-echo/sync-echo.ts`.
 * Without credentials `sync/getUserInfo` answers AuthFailed.
 */
import { AuthFailedError, createSyncPlugin, type HandlerContext, type SyncEntry, type SyncEntryResult } from "plugin-ledger/sdk"

type Stored = Record<string, SyncEntry>

const STATUSES = ["reading", "completed", "on_hold", "dropped", "plan_to_read"] as const

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Entries as stored by an earlier push; anything malformed in storage is skipped rather than trusted. */
const load = async (context: HandlerContext): Promise<Stored> => {
  const { data } = await context.storage.get("entries")
  const stored: Stored = {}
  if (!isRecord(data)) return stored
  for (const [id, entry] of Object.entries(data)) {
    const status = isRecord(entry) ? STATUSES.find((known) => known === entry["status"]) : undefined
    if (isRecord(entry) && status !== undefined) stored[id] = { ...entry, externalId: id, status }
  }
  return stored
}

createSyncPlugin({
  manifest: {
    name: "sync-echo",
    displayName: "Sync Echo",
    version: "1.0.0",
    description: "Keeps pushed reading progress and pulls it back; for testing hosts",
    capabilities: { externalIdSource: "api:echo" }
  },
  provider: {
    getUserInfo: (context) => {
      const token = context.init.credentials?.["access_token"]
      if (typeof token !== "string" || token === "") throw new AuthFailedError("No access token")
      return { externalId: "echo-user", username: context.init.userId ?? "echo" }
    },
    pushProgress: async ({ entries }, context) => {
      const stored = await load(context)
      const success: Array<SyncEntryResult> = []
      for (const entry of entries) {
        success.push({ externalId: entry.externalId, status: entry.externalId in stored ? "updated" : "created" })
        stored[entry.externalId] = entry
      }
      await context.storage.set("entries", stored)
      await context.storage.set("lastSyncAt", new Date().toISOString())
      return { success, failed: [] }
    },
    pullProgress: async (params, context) => {
      const all = Object.values(await load(context)).sort((a, b) => a.externalId.localeCompare(b.externalId))
      const start = params.cursor === undefined ? 0 : Number.parseInt(params.cursor, 10) || 0
      const end = start + (params.limit ?? all.length)
      const hasMore = end < all.length
      return { entries: all.slice(start, end), hasMore, ...(hasMore ? { nextCursor: String(end) } : {}) }
    },
    status: async (context) => {
      const count = Object.keys(await load(context)).length
      const { data } = await context.storage.get("lastSyncAt")
      return { externalCount: count, pendingPush: 0, pendingPull: 0, conflicts: 0, ...(typeof data === "string" ? { lastSyncAt: data } : {}) }
    }
  }
})
