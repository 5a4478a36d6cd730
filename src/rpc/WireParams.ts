/** Request param shapes of every method, with the reference's struct names (they appear in errors). */
import { absolutePath, boolean, integer, option, sequence, string, struct, type WireField, type WireType } from "./SerdeDecode.ts"

const clientInfo = struct("ClientInfo", [
  { key: "name", type: string },
  { key: "title", type: option(string) },
  { key: "version", type: string }
])

const capabilities = struct("InitializeCapabilities", [
  { key: "experimentalApi", type: boolean, defaultValue: false },
  { key: "optOutNotificationMethods", type: option(sequence(string)) }
])

/** Our extension on mutating methods: a retry with the same key applies nothing twice. */
const idempotencyKey: WireField = { key: "idempotencyKey", type: option(string), extension: true }

export const methodParams: ReadonlyMap<string, WireType> = new Map<string, WireType>([
  ["initialize", struct("InitializeParams", [
    { key: "clientInfo", type: clientInfo },
    { key: "capabilities", type: option(capabilities) }
  ])],
  ["plugin/list", struct("PluginListParams", [
    { key: "cwds", type: option(sequence(absolutePath)) },
    { key: "forceRemoteSync", type: boolean, defaultValue: false }
  ])],
  ["plugin/read", struct("PluginReadParams", [
    { key: "marketplacePath", type: absolutePath },
    { key: "pluginName", type: string }
  ])],
  ["plugin/install", struct("PluginInstallParams", [
    { key: "marketplacePath", type: absolutePath },
    { key: "pluginName", type: string },
    { key: "forceRemoteSync", type: boolean, defaultValue: false },
    idempotencyKey
  ])],
  ["plugin/uninstall", struct("PluginUninstallParams", [
    { key: "pluginId", type: string },
    { key: "forceRemoteSync", type: boolean, defaultValue: false },
    idempotencyKey
  ])],
  ["plugin/enable", struct("PluginEnableParams", [{ key: "pluginId", type: string }, idempotencyKey])],
  ["plugin/disable", struct("PluginDisableParams", [{ key: "pluginId", type: string }, idempotencyKey])],
  ["plugin/history", struct("PluginHistoryParams", [
    { key: "pluginId", type: option(string) },
    { key: "limit", type: option(integer) },
    { key: "afterSeq", type: option(integer) },
    { key: "since", type: option(string) },
    { key: "until", type: option(string) },
    { key: "actor", type: option(string) }
  ])],
  ["plugin/why", struct("PluginWhyParams", [{ key: "pluginId", type: string }])],
  ["ledger/verify", struct("LedgerVerifyParams", [{ key: "repair", type: boolean, defaultValue: false }, idempotencyKey])],
  ["plugin/rollback", struct("PluginRollbackParams", [{ key: "pluginId", type: string }, { key: "toSeq", type: option(integer) }, idempotencyKey])],
  ["ledger/replay", struct("LedgerReplayParams", [
    { key: "untilSeq", type: option(integer) },
    { key: "until", type: option(string) },
    { key: "into", type: option(absolutePath) },
    { key: "base", type: option(absolutePath) }
  ])],
  ["plugin/capabilities", struct("PluginCapabilitiesParams", [
    { key: "cwds", type: option(sequence(absolutePath)) },
    { key: "atSeq", type: option(integer) },
    { key: "at", type: option(string) }
  ])],
  ["plugin/mention", struct("PluginMentionParams", [
    { key: "text", type: option(string) },
    { key: "items", type: option(sequence(struct("PluginMentionItem", [
      { key: "type", type: string },
      { key: "text", type: option(string) },
      { key: "path", type: option(string) },
      { key: "name", type: option(string) }
    ]))) }
  ])]
])
