/**
 * Recommendations echo plugin: recommends one "echo" title per library entry, skipping what the user dismissed
 * (kept in host storage). Run: `node examples/process-plugins/recommendations-echo/recommendations-echo.ts`.
 */
import { createRecommendationPlugin, type HandlerContext, type Recommendation } from "plugin-ledger/sdk"

const dismissedIds = async (context: HandlerContext): Promise<Array<string>> => {
  const { data } = await context.storage.get("dismissed")
  return Array.isArray(data) ? data.filter((id): id is string => typeof id === "string") : []
}

createRecommendationPlugin({
  manifest: {
    name: "recommendations-echo",
    displayName: "Recommendations Echo",
    version: "1.0.0",
    description: "Recommends an echo of each library entry; for testing hosts"
  },
  provider: {
    get: async (params, context) => {
      const excluded = new Set([...(params.excludeIds ?? []), ...(await dismissedIds(context))])
      const recommendations: Array<Recommendation> = params.library
        .map((entry, index) => ({
          externalId: `echo-rec-${index + 1}`,
          title: `More like ${entry.title}`,
          score: Math.max(0.05, 1 - index * 0.1),
          reason: `Because you read ${entry.title}`,
          basedOn: [entry.title],
          inLibrary: false
        }))
        .filter((rec) => !excluded.has(rec.externalId))
        .slice(0, params.limit ?? 20)
      return { recommendations, generatedAt: new Date().toISOString(), cached: false }
    },
    dismiss: async (params, context) => {
      const dismissed = await dismissedIds(context)
      if (!dismissed.includes(params.externalId)) await context.storage.set("dismissed", [...dismissed, params.externalId])
      context.logger.debug(`dismissed ${params.externalId} (${params.reason ?? "no reason"})`)
      return { dismissed: true }
    },
    clear: async (context) => {
      await context.storage.delete("dismissed")
      return { cleared: true }
    },
    updateProfile: (params) => ({ updated: true, entriesProcessed: params.entries.length })
  }
})
