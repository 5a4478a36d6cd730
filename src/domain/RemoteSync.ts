/**
 * The remote curated sync, pure: decoding `GET {chatgpt_base_url}/plugins/list` as the reference's serde struct does,
 * and reconciling the curated marketplace with it as `@openai/codex@0.116.0` does (the S1 rule: a plugin listed
 * remotely with `enabled: true` is installed and enabled, every other local curated plugin that is installed or
 * configured is uninstalled). Errors carry the reference's texts. Given the same recorded input (response bytes,
 * curated entries, local observations) it returns the same decisions, so a recorded sync can be re-decided later.
 */
import { Result, Schema } from "effect"
import { decodeSerde, type SerdeShape } from "./SerdeStruct.ts"

export const DEFAULT_REMOTE_MARKETPLACE = "openai-curated"
export const CURATED_MARKETPLACE = "openai-curated"

const RemotePluginStatusSummary = Schema.Struct({
  name: Schema.String.annotate({ expected: "a string" }),
  marketplace_name: Schema.optionalKey(Schema.String.annotate({ expected: "a string" })),
  enabled: Schema.Boolean.annotate({ expected: "a boolean" })
}).annotate({ expected: "struct RemotePluginStatusSummary" })
const RemoteResponse = Schema.Array(RemotePluginStatusSummary).annotate({ expected: "a sequence" })

const fields = new Map([["name", "name"], ["marketplace_name", "marketplace_name"], ["enabled", "enabled"]])
const responseShape: SerdeShape = {
  structFields: (path) => (path.length === 1 ? fields : undefined),
  enumAt: () => undefined,
  bufferedIn: () => undefined,
  fieldCount: (name) => (name === "RemotePluginStatusSummary" ? 3 : undefined)
}

export interface RemotePluginStatus {
  readonly name: string
  readonly marketplaceName: string
  readonly enabled: boolean
}

/** The response body as serde_json reads it into `Vec<RemotePluginStatusSummary>`; fails with the reference's text. */
export const decodeRemoteResponse = (url: string, body: string): Result.Result<ReadonlyArray<RemotePluginStatus>, string> => {
  const decoded = decodeSerde(RemoteResponse, responseShape, body)
  if (Result.isFailure(decoded)) return Result.fail(`failed to parse remote plugin sync response from ${url}: ${decoded.failure}`)
  return Result.succeed(decoded.success.value.map((p) => ({
    name: p.name,
    marketplaceName: p.marketplace_name ?? DEFAULT_REMOTE_MARKETPLACE,
    enabled: p.enabled
  })))
}

/** `{base.trim_end_matches('/')}/plugins/list`, as the reference builds it. */
export const remoteListUrl = (chatgptBaseUrl: string): string => `${chatgptBaseUrl.replace(/\/+$/, "")}/plugins/list`

/** What the engine observed about one curated plugin before deciding (recorded with the sync). */
export const ObservedCuratedPlugin = Schema.Struct({
  pluginId: Schema.String,
  name: Schema.String,
  sourcePath: Schema.String,
  /** the cache holds an active version (what the reference calls installed) */
  installed: Schema.Boolean,
  /** config.toml has its table */
  configured: Schema.Boolean,
  /** the table's `enabled`, null when absent */
  enabled: Schema.NullOr(Schema.Boolean)
})
export type ObservedCuratedPlugin = typeof ObservedCuratedPlugin.Type

export const SyncDecisions = Schema.Struct({
  installed: Schema.Array(Schema.String),
  enabled: Schema.Array(Schema.String),
  disabled: Schema.Array(Schema.String),
  uninstalled: Schema.Array(Schema.String)
})
export type SyncDecisions = typeof SyncDecisions.Type

/** One plugin's change, in the curated marketplace's order (the order config.toml is edited in). */
export type SyncAction =
  | { readonly _tag: "Install"; readonly plugin: ObservedCuratedPlugin }
  | { readonly _tag: "Enable"; readonly plugin: ObservedCuratedPlugin }
  | { readonly _tag: "Uninstall"; readonly plugin: ObservedCuratedPlugin }

export interface SyncPlan {
  readonly decisions: SyncDecisions
  readonly actions: ReadonlyArray<SyncAction>
}

export const noDecisions: SyncDecisions = { installed: [], enabled: [], disabled: [], uninstalled: [] }

/**
 * Reconciles the curated marketplace (`marketplaceName`, its plugins in file order, duplicates already dropped: the
 * first entry wins) with the remote statuses. Remote entries are checked in order: one naming another marketplace,
 * or a plugin listed twice, fails the whole sync; one unknown locally is ignored.
 */
export const reconcileRemoteSync = (
  marketplaceName: string,
  local: ReadonlyArray<ObservedCuratedPlugin>,
  remote: ReadonlyArray<RemotePluginStatus>
): Result.Result<SyncPlan, string> => {
  const listed = new Map<string, boolean>()
  for (const status of remote) {
    if (status.marketplaceName !== marketplaceName) {
      return Result.fail(`remote marketplace \`${status.marketplaceName}\` is not available locally`)
    }
    if (listed.has(status.name)) return Result.fail(`duplicate remote plugin \`${status.name}\` in sync response`)
    listed.set(status.name, status.enabled)
  }
  const decisions = { installed: new Array<string>(), enabled: new Array<string>(), disabled: new Array<string>(), uninstalled: new Array<string>() }
  const actions: Array<SyncAction> = []
  for (const plugin of local) {
    // 0.116.0 (#14878): a remote `enabled: false` means the same as not listed
    if (listed.get(plugin.name) === true) {
      if (!plugin.installed) {
        decisions.installed.push(plugin.pluginId)
        actions.push({ _tag: "Install", plugin })
      }
      if (!(plugin.configured && plugin.enabled === true)) {
        decisions.enabled.push(plugin.pluginId)
        // an install writes `enabled = true` itself
        if (plugin.installed) actions.push({ _tag: "Enable", plugin })
      }
    } else if (plugin.installed || plugin.configured) {
      decisions.uninstalled.push(plugin.pluginId)
      actions.push({ _tag: "Uninstall", plugin })
    }
  }
  return Result.succeed({ decisions, actions })
}

/** The first entry of each name, as the reference keeps it. */
export const firstOfEachName = <A extends { readonly name: string }>(entries: ReadonlyArray<A>): ReadonlyArray<A> => {
  const seen = new Set<string>()
  return entries.filter((entry) => {
    if (seen.has(entry.name)) return false
    seen.add(entry.name)
    return true
  })
}
