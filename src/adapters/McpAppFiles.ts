/** The MCP server names and app connectors a plugin declares (`.mcp.json`, `.app.json` or the manifest's paths). */
import { Result, Schema } from "effect"
import { trimWhitespace } from "../domain/Manifest.ts"
import { readJson } from "../domain/SerdeJson.ts"
import { decodeSerde, explainSerde, type SerdeShape } from "../domain/SerdeStruct.ts"
import { compareUtf8, isAbsolute, join } from "../domain/PathRules.ts"
import { objectOf } from "./YamlSubset.ts"

/** Wire `AppSummary` without directory metadata: name falls back to the id. */
export interface AppSummary {
  readonly id: string
  readonly name: string
  readonly description: string | null
  readonly installUrl: string | null
}

/** codex `connector_name_slug` + `connector_install_url`. */
export const appInstallUrl = (name: string, id: string): string => {
  const slug = [...name].map((c) => (/^[A-Za-z0-9]$/.test(c) ? c.toLowerCase() : "-")).join("").replace(/^-+|-+$/g, "")
  return `https://chatgpt.com/apps/${slug.length === 0 ? "app" : slug}/${id}`
}

// .mcp.json and .app.json

const ANY_MAP = Schema.Record(Schema.String, Schema.Unknown).annotate({ expected: "a map" })
const McpFile = Schema.Struct({ mcpServers: Schema.optionalKey(ANY_MAP) })
const mcpShape: SerdeShape = {
  structFields: (path) => (path.length === 0 ? new Map([["mcpServers", "mcpServers"]]) : undefined),
  enumAt: () => undefined,
  bufferedIn: () => undefined,
  fieldCount: () => undefined
}
const S = (expected: string) => Schema.optionalKey(Schema.NullOr(Schema.String).annotate({ expected }))
const StrList = Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String.annotate({ expected: "a string" }))).annotate({ expected: "a sequence" }))
const StrMap = Schema.optionalKey(Schema.NullOr(Schema.Record(Schema.String, Schema.String.annotate({ expected: "a string" }))).annotate({ expected: "a map" }))
const Num = Schema.optionalKey(Schema.NullOr(Schema.Number).annotate({ expected: "f64" }))
const Bool = Schema.optionalKey(Schema.NullOr(Schema.Boolean).annotate({ expected: "a boolean" }))
const McpServer = Schema.Struct({
  command: S("a string"), args: StrList, env: StrMap, env_vars: StrList, cwd: S("path string"),
  url: S("a string"), bearer_token: S("a string"), bearer_token_env_var: S("a string"), http_headers: StrMap,
  env_http_headers: StrMap, enabled: Bool, required: Bool, startup_timeout_sec: Num, startup_timeout_ms: Num,
  tool_timeout_sec: Num, enabled_tools: StrList, disabled_tools: StrList, scopes: StrList
})
const serverShape: SerdeShape = { ...mcpShape, structFields: () => undefined }
const KNOWN_TRANSPORTS = new Set(["http", "streamable_http", "streamable-http", "stdio"])

/** codex `normalize_plugin_mcp_server_value` + `McpServerConfig` validation; returns the reason it is rejected. */
export const checkMcpServer = (value: unknown, warnings: Array<string>): string | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "invalid transport"
  const entries = Object.entries(value)
  const type = entries.find(([k]) => k === "type")?.[1]
  if (typeof type === "string" && !KNOWN_TRANSPORTS.has(type)) warnings.push("plugin MCP server uses an unknown transport type")
  const oauth = entries.find(([k]) => k === "oauth")?.[1]
  if (typeof oauth === "object" && oauth !== null && Object.keys(oauth).includes("callbackPort")) {
    warnings.push("plugin MCP server OAuth callbackPort is ignored; Codex uses global MCP OAuth callback settings")
  }
  const rest = objectOf(entries.filter(([k]) => k !== "type" && k !== "oauth"))
  const text = JSON.stringify(rest)
  const node = readJson(text)
  const decoded = Schema.decodeUnknownResult(McpServer)(rest, { errors: "all" })
  if (Result.isFailure(decoded)) {
    const failure = Result.isSuccess(node) ? explainSerde(text, node.success, serverShape, decoded.failure.issue) : undefined
    return failure?.message ?? decoded.failure.message
  }
  const c = decoded.success
  const set = (field: keyof typeof c): boolean => c[field] !== undefined && c[field] !== null
  if (set("command")) {
    const bad = (["url", "bearer_token_env_var", "bearer_token", "http_headers", "env_http_headers"] as const).find(set)
    return bad === undefined ? undefined : `${bad} is not supported for stdio`
  }
  if (set("url")) {
    const bad = (["args", "env", "env_vars", "cwd", "bearer_token"] as const).find(set)
    return bad === undefined ? undefined : `${bad} is not supported for streamable_http`
  }
  return "invalid transport"
}

/** Valid MCP server names of a `{"mcpServers": {...}}` file, sorted; the file-level error goes to `warnings`. */
export const mcpServerNames = (text: string, file: string, warnings: Array<string>): ReadonlyArray<string> =>
  normalizedMcpServers(text, file, undefined, warnings).map((s) => s.name)

/** One plugin MCP server as Codex uses it: `type` and `oauth` dropped, a relative `cwd` rebased onto the plugin root. */
export interface NormalizedMcpServer {
  readonly name: string
  readonly transport: "stdio" | "streamable_http"
  /** the entry without `type` / `oauth`, `enabled: true` and `required: false` unless given */
  readonly config: Readonly<Record<string, unknown>>
}

/** The valid servers of an MCP file, sorted by name, normalized (codex `normalize_plugin_mcp_server_value`). */
export const normalizedMcpServers = (
  text: string,
  file: string,
  pluginRoot: string | undefined,
  warnings: Array<string>
): ReadonlyArray<NormalizedMcpServer> => {
  const decoded = decodeSerde(McpFile, mcpShape, text)
  if (Result.isFailure(decoded)) {
    warnings.push(`failed to parse plugin MCP config: ${decoded.failure}`)
    return []
  }
  const servers = decoded.success.value.mcpServers ?? {}
  return Object.keys(servers).sort(compareUtf8).flatMap((name): ReadonlyArray<NormalizedMcpServer> => {
    const value = servers[name]
    const problem = checkMcpServer(value, warnings)
    if (problem !== undefined) {
      warnings.push(`failed to parse plugin MCP server from ${file}: ${problem}`)
      return []
    }
    const kept = (typeof value === "object" && value !== null ? Object.entries(value) : []).filter(([k]) => k !== "type" && k !== "oauth")
      .map(([k, v]): [string, unknown] =>
        k === "cwd" && typeof v === "string" && pluginRoot !== undefined && !isAbsolute(v) ? [k, join(pluginRoot, v)] : [k, v]
      )
    const config = objectOf([["enabled", true], ["required", false], ...kept])
    const transport = typeof config["command"] === "string" ? "stdio" : "streamable_http"
    return [{ name, transport, config }]
  })
}

const AppFile = Schema.Struct({
  apps: Schema.optionalKey(Schema.Record(Schema.String, Schema.Struct({ id: Schema.String.annotate({ expected: "a string" }) })
    .annotate({ expected: "struct PluginAppConfig" })).annotate({ expected: "a map" }))
})
const appShape: SerdeShape = {
  structFields: (path) =>
    path.length === 0 ? new Map([["apps", "apps"]]) : path.length === 2 ? new Map([["id", "id"]]) : undefined,
  enumAt: () => undefined,
  bufferedIn: () => undefined,
  fieldCount: () => undefined
}

/** Apps of a `{"apps": {key: {"id": …}}}` file: sorted by id, blank ids skipped, duplicates removed. */
export const appSummaries = (text: string, warnings: Array<string>): ReadonlyArray<AppSummary> => {
  const decoded = decodeSerde(AppFile, appShape, text)
  if (Result.isFailure(decoded)) {
    warnings.push(`failed to parse plugin app config: ${decoded.failure}`)
    return []
  }
  const ids = Object.values(decoded.success.value.apps ?? {}).flatMap(({ id }) => {
    if (trimWhitespace(id).length > 0) return [id]
    warnings.push("plugin app config is missing an app id")
    return []
  }).sort(compareUtf8)
  return ids.filter((id, n) => n === 0 || ids[n - 1] !== id)
    .map((id) => ({ id, name: id, description: null, installUrl: appInstallUrl(id, id) }))
}
