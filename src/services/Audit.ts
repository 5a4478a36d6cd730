/**
 * Answers from the log alone: the history timeline with its filters, and "why is this plugin in this state?".
 * Pure functions over committed records.
 */
import { Result, Schema } from "effect"
import { type EventCause, genesisEventType, PluginEvent } from "../domain/Events.ts"
import { evolve, initialState } from "../domain/PluginState.ts"
import type { SyncDecisions } from "../domain/RemoteSync.ts"
import type { HistoryEntryView, HistoryQuery, PluginWhyView } from "../domain/PluginViews.ts"
import type { LogRecord } from "./EventLog.ts"
import { eventOf, readEventOf } from "./EventRecords.ts"

export const pluginIdOf = (event: PluginEvent): string | null =>
  "pluginId" in event ? event.pluginId : "processPlugin" in event ? `process:${event.processPlugin}` : null

/** The wire view of a record; undefined for records that are neither plugin events nor the log's genesis. */
export const historyEntryOf = (record: LogRecord): HistoryEntryView | undefined => {
  const event = readEventOf(record)
  if (event === undefined && record.type !== genesisEventType) return undefined
  return {
    seq: record.seq,
    at: record.ts,
    type: record.type,
    pluginId: event === undefined ? null : pluginIdOf(event),
    cause: event !== undefined && "cause" in event && event.cause !== undefined ? event.cause : null,
    data: record.data
  }
}

const matches = (entry: HistoryEntryView, query: HistoryQuery): boolean =>
  (query.pluginId === undefined || entry.pluginId === query.pluginId) &&
  (query.afterSeq === undefined || entry.seq > query.afterSeq) &&
  (query.since === undefined || Date.parse(entry.at) >= Date.parse(query.since)) &&
  (query.until === undefined || Date.parse(entry.at) < Date.parse(query.until)) &&
  (query.actor === undefined || entry.cause?.actor === query.actor)

export const queryHistory = (records: ReadonlyArray<LogRecord>, query: HistoryQuery): ReadonlyArray<HistoryEntryView> => {
  const entries: Array<HistoryEntryView> = []
  for (const record of records) {
    if (query.afterSeq !== undefined && record.seq <= query.afterSeq) continue
    const entry = historyEntryOf(record)
    if (entry === undefined || (query.pluginId !== undefined && entry.type === "LogCreated")) continue
    if (matches(entry, query)) entries.push(entry)
  }
  return query.limit === undefined ? entries : entries.slice(Math.max(0, entries.length - query.limit))
}

/** `cli (client=x, request=7)`: who caused an event, for people. */
export const describeCause = (cause: EventCause | null): string => {
  if (cause === null) return "the ledger itself"
  const parts: Array<string> = []
  if (cause.client !== undefined) parts.push(`client=${cause.client}`)
  if (cause.requestId !== undefined) parts.push(`request=${cause.requestId}`)
  if (cause.syncId !== undefined) parts.push(`sync=${cause.syncId}`)
  return parts.length === 0 ? cause.actor : `${cause.actor} (${parts.join(", ")})`
}

const showEnabled = (enabled: boolean | null): string => (enabled === null ? "unset" : String(enabled))

const describeDecisions = (d: SyncDecisions): string => {
  const parts = ([["installed", d.installed], ["enabled", d.enabled], ["disabled", d.disabled], ["uninstalled", d.uninstalled]] as const)
    .filter(([, ids]) => ids.length > 0)
    .map(([what, ids]) => `${what} ${ids.join(", ")}`)
  return parts.length === 0 ? "nothing to change" : parts.join("; ")
}

/** One line for people: what the event did. */
export const describeEvent = (event: PluginEvent): string => {
  switch (event._tag) {
    case "PluginInstalled":
      return `installed version ${event.version} from marketplace ${event.marketplaceName}`
    case "PluginEnabled":
      return "enabled"
    case "PluginDisabled":
      return "disabled"
    case "PluginUninstalled":
      return "uninstalled"
    case "PluginStateChangedExternally": {
      const { before, after } = event
      if (!after.configured) return "config.toml edited by hand: its table was removed"
      if (!before.configured) return `config.toml edited by hand: a table was added (enabled = ${showEnabled(after.enabled)})`
      return `config.toml edited by hand: enabled ${showEnabled(before.enabled)} -> ${showEnabled(after.enabled)}`
    }
    case "ConfigUnreadable":
      return `config.toml could not be read (left as it is): ${event.message.split("\n")[0] ?? ""}`
    case "ProjectionRepaired":
      return `cache restored from the blob store (${event.problems.length} ${event.problems.length === 1 ? "path" : "paths"} differed)`
    case "RemoteSyncRecorded":
      return event.error === null
        ? `remote sync ${event.syncId}: ${describeDecisions(event.decisions)}`
        : `remote sync ${event.syncId} failed: ${event.error}`
    case "CuratedMirrorUpdated":
      return `curated mirror now at ${event.sha}${event.previousSha === null ? "" : ` (was ${event.previousSha})`}`
    case "PluginRolledBack":
      return `rolled back to the content of seq ${event.toSeq} (version ${event.version}, tree ${event.toTreeHash.slice(0, 12)}; was ${event.fromTreeHash.slice(0, 12)})`
    case "ProcessPluginAdded":
      return `process plugin registered: ${[event.command, ...event.args].join(" ")}`
    case "ProcessPluginConfigured":
      return `process plugin configured (${[
        ...(event.adminConfig === undefined ? [] : ["admin config"]),
        ...(event.userConfig === undefined ? [] : [`user config of ${event.userConfig.userId}`]),
        ...(event.timeoutSeconds === undefined ? [] : [event.timeoutSeconds > 0 ? `timeout ${event.timeoutSeconds} s` : "timeout: host default"]),
        ...(event.rateLimitPerMinute === undefined ? [] : [event.rateLimitPerMinute > 0 ? `rate limit ${event.rateLimitPerMinute}/min` : "no rate limit"])
      ].join(", ")})`
    case "ProcessPluginCredentialsSet":
      return `process plugin credentials set (keys ${event.keys.join(", ") || "none"}; fingerprint ${event.fingerprint})`
    case "ProcessPluginEnabled":
      return "process plugin enabled"
    case "ProcessPluginDisabled":
      return event.reason === null ? "process plugin disabled" : `process plugin disabled: ${event.reason}`
    case "ProcessPluginRemoved":
      return "process plugin removed"
    case "ProcessPluginFailed":
      return `process plugin ${event.stage} failed: ${event.message.split("\n")[0] ?? ""}`
    case "ManifestObserved":
      return `manifest observed: ${event.name} version ${event.version} (protocol ${event.protocolVersion})` +
        (event.previousVersion === null || event.previousVersion === event.version ? "" : `, was ${event.previousVersion}`)
    case "LogTailRepaired":
      return `a torn log tail of ${event.bytes} bytes was truncated (kept in ${event.quarantineFile})`
  }
}

/** the events that set a plugin's config.toml table */
const configSetters: ReadonlySet<string> = new Set([
  "PluginInstalled",
  "PluginUninstalled",
  "PluginEnabled",
  "PluginDisabled",
  "PluginStateChangedExternally"
])

const at = (record: LogRecord, event: PluginEvent): string =>
  `${describeEvent(event)} by ${describeCause("cause" in event && event.cause !== undefined ? event.cause : null)} at ${record.ts} (seq ${record.seq})`

/** Why a plugin is in its current state: the deciding event of each fact, and the chain since its last install. */
export const explain = (records: ReadonlyArray<LogRecord>, pluginId: string): PluginWhyView => {
  const mine: Array<{ readonly record: LogRecord; readonly event: PluginEvent }> = []
  for (const record of records) {
    const event = eventOf(record)
    if (event !== undefined && pluginIdOf(event) === pluginId) mine.push({ record, event })
  }
  const lastInstall = mine.findLastIndex((e) => e.event._tag === "PluginInstalled")
  const chain = lastInstall < 0 ? mine : mine.slice(lastInstall)
  // the state comes from the domain fold; the deciding events are the last ones of the kinds that set each fact
  let state = initialState
  for (const { record, event } of mine) state = evolve(state, event, record.seq)
  const status = state.plugins.get(pluginId)
  const installed = mine.findLast((e) => e.event._tag === "PluginInstalled" || e.event._tag === "PluginUninstalled")
  const configured = mine.findLast((e) => configSetters.has(e.event._tag))
  const isInstalled = status?.installed === true
  const enabled = status?.enabled === true
  const because: Array<string> = []
  if (mine.length === 0) because.push("the ledger has no events about this plugin")
  if (installed !== undefined) because.push(`${isInstalled ? "installed" : "not installed"}: ${at(installed.record, installed.event)}`)
  else if (mine.length > 0) because.push("not installed: it was never installed through the ledger")
  if (configured !== undefined) because.push(`${enabled ? "enabled" : "disabled"}: ${at(configured.record, configured.event)}`)
  for (const item of chain) {
    if (item.event._tag === "ProjectionRepaired") because.push(`cache repaired: ${at(item.record, item.event)}`)
    if (item.event._tag === "PluginRolledBack") because.push(`content: ${at(item.record, item.event)}`)
  }
  return {
    pluginId,
    state: {
      known: mine.length > 0,
      installed: isInstalled,
      configured: status?.config.configured === true,
      enabled,
      version: status?.version ?? null,
      lastSeq: mine.at(-1)?.record.seq ?? null
    },
    because,
    events: chain.flatMap(({ record }) => {
      const entry = historyEntryOf(record)
      return entry === undefined ? [] : [entry]
    })
  }
}

const decodeEvent = Schema.decodeUnknownResult(PluginEvent)

/** One line for people about a history entry (as returned on the wire). */
export const describeEntry = (entry: HistoryEntryView): string => {
  if (entry.type === "LogCreated") return "ledger created"
  const decoded = typeof entry.data === "object" && entry.data !== null
    ? decodeEvent({ ...entry.data, _tag: entry.type })
    : Result.fail(undefined)
  return Result.isSuccess(decoded) ? describeEvent(decoded.success) : entry.type
}
