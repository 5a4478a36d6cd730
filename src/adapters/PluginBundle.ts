import { Context, Effect, FileSystem, Layer, Option, Path, Result, Schema } from "effect"
import {
  charCount,
  collapseWhitespace,
  type DecodedManifest,
  trimWhitespace
} from "../domain/Manifest.ts"
import { readJson } from "../domain/SerdeJson.ts"
import { decodeSerde, explainSerde, type SerdeShape } from "../domain/SerdeStruct.ts"
import { basename, compareUtf8, comparePaths, components, isWithin, join } from "../domain/PathRules.ts"
import { readManifestSync } from "./ManifestFile.ts"

/** Wire `SkillInterface` (from `<skill>/agents/openai.yaml`), keys in the binary's order. */
export interface SkillInterface {
  readonly displayName: string | null
  readonly shortDescription: string | null
  readonly iconSmall: string | null
  readonly iconLarge: string | null
  readonly brandColor: string | null
  readonly defaultPrompt: string | null
}

/** Wire `SkillSummary` as `plugin/read` prints it. */
export interface SkillSummary {
  /** `<plugin manifest name>:<skill name>` */
  readonly name: string
  readonly description: string
  readonly shortDescription: string | null
  readonly interface: SkillInterface | null
  /** canonical path of the SKILL.md */
  readonly path: string
}

/** Wire `AppSummary` without directory metadata: name falls back to the id. */
export interface AppSummary {
  readonly id: string
  readonly name: string
  readonly description: string | null
  readonly installUrl: string | null
}

export interface PluginBundleContents {
  readonly root: string
  readonly manifest: DecodedManifest["manifest"]
  /** what codex would log at WARN while loading this plugin */
  readonly warnings: ReadonlyArray<string>
  readonly skills: ReadonlyArray<SkillSummary>
  /** sorted names of the MCP servers that pass codex's config validation */
  readonly mcpServers: ReadonlyArray<string>
  /** sorted by id, blank ids dropped, duplicates removed */
  readonly apps: ReadonlyArray<AppSummary>
}

export class PluginBundleError extends Schema.TaggedError<PluginBundleError>()("PluginBundleError", {
  reason: Schema.Literal("MissingManifest"),
  root: Schema.String,
  message: Schema.String
}) {}

export const MISSING_MANIFEST = "missing or invalid .codex-plugin/plugin.json"
const MAX_SKILL_NAME = 64
const MAX_SKILL_DESCRIPTION = 1024
const MAX_SCAN_DEPTH = 6
const MAX_SKILL_DIRS = 2000

/** codex `connector_name_slug` + `connector_install_url`. */
export const appInstallUrl = (name: string, id: string): string => {
  const slug = [...name].map((c) => (/^[A-Za-z0-9]$/.test(c) ? c.toLowerCase() : "-")).join("").replace(/^-+|-+$/g, "")
  return `https://chatgpt.com/apps/${slug.length === 0 ? "app" : slug}/${id}`
}

// A small block-YAML reader for SKILL.md frontmatter and agents/openai.yaml: mappings, sequences, plain/quoted/block
// scalars, simple flow collections and comments. Anything it cannot read is an error, and codex then skips the
// skill (frontmatter) or the interface (openai.yaml). Scalars stay text (`123`, `true` → "123", "true" as serde_yaml
// gives to `String` fields); `~`/`null`/empty are null.

interface Line {
  readonly indent: number
  readonly text: string
}
class YamlError {
  readonly message: string
  constructor(message: string) {
    this.message = message
  }
}
const yamlFail = (message: string): never => {
  throw new YamlError(message)
}
const NULLS = new Set(["", "~", "null", "Null", "NULL"])
const objectOf = (entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
  return out
}
/** Index of the quote closing the scalar that starts at `s[0]` (`\\x` escapes in "…", `''` in '…'), or -1. */
const closingQuote = (s: string): number => {
  const q = s.charAt(0)
  for (let k = 1; k < s.length; k++) {
    const c = s.charAt(k)
    if (q === "\"" && c === "\\") k++
    else if (c === q) {
      if (q === "'" && s.charAt(k + 1) === "'") k++
      else return k
    }
  }
  return -1
}
const stripComment = (s: string): string => {
  const m = /(^|\s)#/.exec(s)
  return (m === null ? s : s.slice(0, m.index)).trimEnd()
}
const unescapeDouble = (body: string): string =>
  body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e: string) => {
    const simple: Record<string, string> = {
      "0": "\0", a: "\x07", b: "\b", t: "\t", "\t": "\t", n: "\n", v: "\v", f: "\f", r: "\r", e: "\x1b", " ": " ",
      "\"": "\"", "/": "/", "\\": "\\", N: "\u0085", _: "\u00a0", L: "\u2028", P: "\u2029"
    }
    if (e.length > 1) return String.fromCodePoint(parseInt(e.slice(1), 16))
    return simple[e] ?? yamlFail(`found unknown escape character`)
  })

/** Parses a YAML document into plain values (strings, null, arrays, objects); fails with a message. */
export const parseYaml = (text: string): Result.Result<unknown, string> => {
  const lines: Array<Line> = text.split(/\r?\n/).map((raw) => {
    const indent = raw.length - raw.replace(/^ +/, "").length
    if (raw.charAt(indent) === "\t" && raw.trim().length > 0) yamlFail("found a tab character that violates indentation")
    return { indent, text: raw.slice(indent).trimEnd() }
  })
  let i = 0
  const blank = (l: Line) => l.text.length === 0 || l.text.startsWith("#")
  const skipBlank = () => {
    while (i < lines.length && blank(lines[i] ?? { indent: 0, text: "" })) i++
  }
  const current = (): Line | undefined => lines[i]
  const scalar = (raw: string): string | null => (NULLS.has(raw) ? null : raw)
  const splitKey = (content: string): { readonly key: string; readonly rest: string } | undefined => {
    if (content.startsWith("\"") || content.startsWith("'")) {
      const q = content.charAt(0)
      const close = closingQuote(content)
      if (close < 0 || content.charAt(close + 1) !== ":") return undefined
      const inner = content.slice(1, close)
      return { key: q === "\"" ? unescapeDouble(inner) : inner.replaceAll("''", "'"), rest: content.slice(close + 2) }
    }
    if (/^[[{\-?|>!&*%@`]/.test(content) && !/^-[^\s]/.test(content)) return undefined
    const m = /:(\s|$)/.exec(content)
    if (m === null || content.slice(0, m.index).includes(" #")) return undefined
    return { key: content.slice(0, m.index).trim(), rest: content.slice(m.index + 1) }
  }
  const flow = (source: string): { readonly value: unknown; readonly rest: string } => {
    let j = 0
    const ws = () => {
      while (j < source.length && /\s/.test(source.charAt(j))) j++
    }
    const item = (): unknown => {
      ws()
      const c = source.charAt(j)
      if (c === "[" || c === "{") {
        j++
        const seq = c === "["
        const items: Array<unknown> = []
        const entries: Array<readonly [string, unknown]> = []
        for (;;) {
          ws()
          if (j >= source.length) yamlFail(`did not find expected ',' or '${seq ? "]" : "}"}'`)
          if (source.charAt(j) === (seq ? "]" : "}")) {
            j++
            return seq ? items : objectOf(entries)
          }
          const first = item()
          ws()
          if (!seq || source.charAt(j) === ":") {
            if (source.charAt(j) !== ":") yamlFail("did not find expected ':'")
            j++
            entries.push([String(first), item()])
          } else {
            items.push(first)
          }
          ws()
          if (source.charAt(j) === ",") j++
          else if (source.charAt(j) !== (seq ? "]" : "}")) yamlFail(`did not find expected ',' or '${seq ? "]" : "}"}'`)
        }
      }
      if (c === "\"" || c === "'") {
        const close = closingQuote(source.slice(j))
        if (close < 0) yamlFail("found unexpected end of stream")
        const body = source.slice(j + 1, j + close)
        j += close + 1
        return c === "\"" ? unescapeDouble(body) : body.replaceAll("''", "'")
      }
      const m = /^[^,[\]{}]*?(?=\s*(?:[,\]}]|:\s|:$|$))/.exec(source.slice(j))
      const raw = (m?.[0] ?? "").trim()
      j += m?.[0].length ?? 0
      return scalar(raw)
    }
    const value = item()
    return { value, rest: source.slice(j) }
  }
  const quoted = (rest: string, parentIndent: number): unknown => {
    let source = rest
    while (closingQuote(source) < 0) {
      const next = current()
      if (next === undefined || (next.indent <= parentIndent && next.text.length > 0)) yamlFail("found unexpected end of stream")
      source += next === undefined || next.text.length === 0 ? "\n" : ` ${next.text}`
      i++
    }
    const { rest: after, value } = flow(source)
    if (stripComment(after).trim().length > 0) yamlFail("did not find expected key")
    return value
  }
  const block = (header: string, parentIndent: number): string => {
    const folded = header.startsWith(">")
    const chomp = header.includes("-") ? "strip" : header.includes("+") ? "keep" : "clip"
    const body: Array<string> = []
    let contentIndent = -1
    while (i < lines.length) {
      const l = lines[i] ?? { indent: 0, text: "" }
      if (l.text.length > 0 && l.indent <= parentIndent) break
      if (l.text.length > 0 && contentIndent < 0) contentIndent = l.indent
      body.push(l.text.length === 0 ? "" : " ".repeat(Math.max(0, l.indent - contentIndent)) + l.text)
      i++
    }
    let out = folded ? body.reduce((acc, l, n) => (n === 0 ? l : l === "" || acc.endsWith("\n") ? `${acc}\n${l}` : `${acc} ${l}`), "") : body.join("\n")
    out = out.replace(/\n+$/, "")
    return chomp === "strip" || out.length === 0 ? out : chomp === "keep" ? `${out}\n` : `${out}\n`
  }
  const plain = (first: string, parentIndent: number): string | null => {
    const parts = [stripComment(first)]
    while (i < lines.length) {
      const l = lines[i] ?? { indent: 0, text: "" }
      if (l.text.length > 0 && (l.indent <= parentIndent || l.text.startsWith("#"))) break
      parts.push(l.text.length === 0 ? "\n" : stripComment(l.text))
      i++
    }
    const joined = parts.reduce((acc, p) => (p === "\n" ? `${acc}\n` : acc.endsWith("\n") || acc === "" ? acc + p : `${acc} ${p}`), "").trim()
    if (/:(\s|$)/.test(joined)) yamlFail("mapping values are not allowed in this context")
    return scalar(joined)
  }
  const value = (rest: string, parentIndent: number): unknown => {
    const text = rest.trim()
    if (text.length === 0 || text.startsWith("#")) {
      skipBlank()
      const next = current()
      if (next !== undefined && next.indent > parentIndent) return node(parentIndent + 1)
      if (next !== undefined && next.indent === parentIndent && /^-(\s|$)/.test(next.text)) return sequence(parentIndent)
      return null
    }
    if (text.startsWith("|") || text.startsWith(">")) return block(text, parentIndent)
    if (text.startsWith("\"") || text.startsWith("'")) return quoted(text, parentIndent)
    if (text.startsWith("[") || text.startsWith("{")) {
      let source = text
      const balanced = (s: string) => (s.match(/[[{]/g)?.length ?? 0) <= (s.match(/[\]}]/g)?.length ?? 0)
      while (!balanced(source) && i < lines.length) source += ` ${lines[i++]?.text ?? ""}`
      const parsed = flow(source)
      if (stripComment(parsed.rest).trim().length > 0) yamlFail("did not find expected <document end>")
      return parsed.value
    }
    if (text.startsWith("*")) return yamlFail("unknown anchor")
    return plain(text.replace(/^!\S*\s*/, "").replace(/^&\S+\s*/, ""), parentIndent)
  }
  const mapping = (indent: number): Record<string, unknown> => {
    const entries: Array<readonly [string, unknown]> = []
    const seen = new Set<string>()
    for (;;) {
      skipBlank()
      const l = current()
      if (l === undefined || l.indent < indent) break
      if (l.indent > indent) yamlFail("mapping values are not allowed in this context")
      const kv = splitKey(l.text)
      if (kv === undefined) return yamlFail("could not find expected ':'")
      if (seen.has(kv.key)) yamlFail(`duplicate entry with key "${kv.key}"`)
      seen.add(kv.key)
      i++
      entries.push([kv.key, value(kv.rest, indent)])
    }
    return objectOf(entries)
  }
  const sequence = (indent: number): Array<unknown> => {
    const items: Array<unknown> = []
    for (;;) {
      skipBlank()
      const l = current()
      if (l === undefined || l.indent < indent || !/^-(\s|$)/.test(l.text)) {
        if (l !== undefined && l.indent > indent) yamlFail("did not find expected '-' indicator")
        break
      }
      if (l.indent > indent) yamlFail("did not find expected '-' indicator")
      const rest = l.text.slice(1).replace(/^\s+/, "")
      const column = indent + (l.text.length - rest.length)
      if (rest.length > 0 && splitKey(rest) !== undefined) {
        lines[i] = { indent: column, text: rest }
        items.push(mapping(column))
      } else {
        i++
        items.push(value(rest, indent))
      }
    }
    return items
  }
  const node = (minIndent: number): unknown => {
    skipBlank()
    const l = current()
    if (l === undefined || l.indent < minIndent) return null
    if (/^-(\s|$)/.test(l.text)) return sequence(l.indent)
    if (splitKey(l.text) !== undefined) return mapping(l.indent)
    i++
    return value(l.text, l.indent - 1)
  }
  try {
    skipBlank()
    if (current()?.text === "---") i++
    const doc = node(0)
    skipBlank()
    if (i < lines.length && current()?.text !== "...") yamlFail("did not find expected <document start>")
    return Result.succeed(doc)
  } catch (error) {
    if (error instanceof YamlError) return Result.fail(error.message)
    throw error
  }
}

/** codex `extract_frontmatter`: first line `---` (trimmed), lines up to the next `---`; none or empty → null. */
export const extractFrontmatter = (contents: string): string | null => {
  const lines = contents.split("\n").map((l) => l.replace(/\r$/, ""))
  if (trimWhitespace(lines[0] ?? "") !== "---") return null
  const body: Array<string> = []
  for (const line of lines.slice(1)) {
    if (trimWhitespace(line) === "---") return body.length === 0 ? null : body.join("\n")
    body.push(line)
  }
  return null
}

const NullableString = Schema.optionalKey(Schema.NullOr(Schema.String))
const Frontmatter = Schema.Struct({
  name: NullableString,
  description: NullableString,
  metadata: Schema.optionalKey(Schema.Struct({ "short-description": NullableString }))
})
const OpenAiYaml = Schema.Struct({
  interface: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    display_name: NullableString,
    short_description: NullableString,
    icon_small: NullableString,
    icon_large: NullableString,
    brand_color: NullableString,
    default_prompt: NullableString
  })))
})

/** codex `resolve_str` for openai.yaml: collapsed, non-empty, at most `max` chars. */
const interfaceText = (value: string | null | undefined, max: number, field: string, warnings: Array<string>): string | null => {
  if (value === undefined || value === null) return null
  const text = collapseWhitespace(value)
  if (text.length === 0) {
    warnings.push(`ignoring ${field}: value is empty`)
    return null
  }
  if (charCount(text) > max) {
    warnings.push(`ignoring ${field}: exceeds maximum length of ${max} characters`)
    return null
  }
  return text
}

/** codex `resolve_asset_path`: icons must be relative paths under `<skill>/assets/`. */
const iconPath = (skillDir: string, field: string, value: string | null | undefined, warnings: Array<string>): string | null => {
  if (value === undefined || value === null || value.length === 0) return null
  if (value.startsWith("/")) {
    warnings.push(`ignoring ${field}: icon must be a relative assets path (not ${join(skillDir, "assets")})`)
    return null
  }
  const names: Array<string> = []
  for (const c of components(value)) {
    if (c._tag === "CurDir") continue
    if (c._tag === "ParentDir") {
      warnings.push(`ignoring ${field}: icon path must not contain '..'`)
      return null
    }
    if (c._tag !== "Normal") {
      warnings.push(`ignoring ${field}: icon path must be under assets/`)
      return null
    }
    names.push(c.name)
  }
  if (names[0] !== "assets") {
    warnings.push(`ignoring ${field}: icon path must be under assets/`)
    return null
  }
  return join(skillDir, ...names)
}

const brandColor = (value: string | null | undefined, warnings: Array<string>): string | null => {
  if (value === undefined || value === null) return null
  const color = trimWhitespace(value)
  if (color.length === 0) {
    warnings.push("ignoring interface.brand_color: value is empty")
    return null
  }
  if (/^#[0-9a-fA-F]{6}$/.test(color)) return color
  warnings.push(`ignoring interface.brand_color: expected #RRGGBB, got ${color}`)
  return null
}

const decodeSkillInterface = (yamlText: string, skillDir: string, warnings: Array<string>): SkillInterface | null => {
  const parsed = parseYaml(yamlText)
  const decoded = Result.flatMap(parsed, (doc) =>
    Result.mapError(Schema.decodeUnknownResult(OpenAiYaml)(doc ?? {}), (e) => e.message))
  if (Result.isFailure(decoded)) {
    warnings.push(`ignoring ${join(skillDir, "agents/openai.yaml")}: invalid openai.yaml: ${decoded.failure}`)
    return null
  }
  const raw = decoded.success.interface
  if (raw === undefined || raw === null) return null
  const iface: SkillInterface = {
    displayName: interfaceText(raw.display_name, MAX_SKILL_NAME, "interface.display_name", warnings),
    shortDescription: interfaceText(raw.short_description, MAX_SKILL_DESCRIPTION, "interface.short_description", warnings),
    iconSmall: iconPath(skillDir, "interface.icon_small", raw.icon_small, warnings),
    iconLarge: iconPath(skillDir, "interface.icon_large", raw.icon_large, warnings),
    brandColor: brandColor(raw.brand_color, warnings),
    defaultPrompt: interfaceText(raw.default_prompt, MAX_SKILL_DESCRIPTION, "interface.default_prompt", warnings)
  }
  return Object.values(iface).some((v) => v !== null) ? iface : null
}

/** Parses one SKILL.md; a missing name falls back to the skill's directory name (verified). */
export const parseSkill = (
  contents: string,
  skillPath: string,
  namespace: string,
  openAiYaml: string | null,
  warnings: Array<string>
): Result.Result<SkillSummary, string> => {
  const frontmatter = extractFrontmatter(contents)
  if (frontmatter === null) return Result.fail("missing YAML frontmatter delimited by ---")
  const parsed = Result.flatMap(parseYaml(frontmatter), (doc) =>
    Result.mapError(Schema.decodeUnknownResult(Frontmatter)(doc), (e) => e.message))
  if (Result.isFailure(parsed)) return Result.fail(`invalid YAML: ${parsed.failure}`)
  const fm = parsed.success
  const skillDir = join(skillPath, "..")
  const named = collapseWhitespace(fm.name ?? "")
  const name = named.length > 0 ? named : basename(skillDir)
  const description = collapseWhitespace(fm.description ?? "")
  const short = collapseWhitespace(fm.metadata?.["short-description"] ?? "")
  for (const [field, value, max] of [["name", name, MAX_SKILL_NAME], ["description", description, MAX_SKILL_DESCRIPTION],
    ["metadata.short-description", short, MAX_SKILL_DESCRIPTION]] as const) {
    if (value.length === 0 && field !== "metadata.short-description") return Result.fail(`missing field \`${field}\``)
    if (charCount(value) > max) return Result.fail(`invalid ${field}: exceeds maximum length of ${max} characters`)
  }
  return Result.succeed({
    name: `${namespace}:${name}`,
    description,
    shortDescription: short.length > 0 ? short : null,
    interface: openAiYaml === null ? null : decodeSkillInterface(openAiYaml, skillDir, warnings),
    path: skillPath
  })
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
export const mcpServerNames = (text: string, file: string, warnings: Array<string>): ReadonlyArray<string> => {
  const decoded = decodeSerde(McpFile, mcpShape, text)
  if (Result.isFailure(decoded)) {
    warnings.push(`failed to parse plugin MCP config: ${decoded.failure}`)
    return []
  }
  const servers = decoded.success.value.mcpServers ?? {}
  return Object.keys(servers).sort(compareUtf8).filter((name) => {
    const problem = checkMcpServer(servers[name], warnings)
    if (problem !== undefined) warnings.push(`failed to parse plugin MCP server from ${file}: ${problem}`)
    return problem === undefined
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

// The service

export interface PluginBundleShape {
  /** The decoded manifest of the plugin at `root` (missing, unreadable, invalid or outside the root → error). */
  readonly readManifest: (root: string) => Effect.Effect<DecodedManifest, PluginBundleError>
  /** Manifest, skills, MCP server names and apps, as `plugin/read` reports them. */
  readonly read: (root: string) => Effect.Effect<PluginBundleContents, PluginBundleError>
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const make = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  const realPath = (p: string) => fs.realPath(p).pipe(Effect.option)
  // Rust `read_to_string`: strict UTF-8 and a BOM is kept (serde then rejects it), unlike `readFileString`
  const readUtf8 = (p: string) =>
    fs.readFile(p).pipe(Effect.flatMap((bytes) => Effect.try(() => STRICT_UTF8.decode(bytes))), Effect.option)
  /** the real path of `p` if it exists and stays inside `realRoot` (symlinks never lead out of the root) */
  const inside = Effect.fnUntraced(function*(realRoot: string, p: string) {
    const real = yield* realPath(p)
    return Option.filter(real, (r) => isWithin(realRoot, r))
  })
  const readText = Effect.fnUntraced(function*(realRoot: string, p: string) {
    const real = yield* inside(realRoot, p)
    if (Option.isNone(real)) return Option.none<string>()
    const info = yield* fs.stat(real.value).pipe(Effect.option)
    if (Option.isNone(info) || info.value.type !== "File") return Option.none<string>()
    return yield* readUtf8(real.value)
  })

  const rootOf = Effect.fnUntraced(function*(root: string) {
    const missing = new PluginBundleError({ reason: "MissingManifest", root, message: MISSING_MANIFEST })
    const realRoot = yield* realPath(root)
    if (Option.isNone(realRoot)) return yield* missing
    const decoded = readManifestSync(root).decoded
    if (decoded === undefined) return yield* missing
    return { realRoot: realRoot.value, decoded }
  })

  const readManifest = Effect.fn("PluginBundle.readManifest")(function*(root: string) {
    const decoded = readManifestSync(root).decoded
    if (decoded === undefined) return yield* new PluginBundleError({ reason: "MissingManifest", root, message: MISSING_MANIFEST })
    return decoded
  })

  const scanSkills = Effect.fnUntraced(function*(
    realRoot: string,
    skillRoot: string,
    namespace: string,
    warnings: Array<string>
  ) {
    const start = yield* inside(realRoot, skillRoot)
    if (Option.isNone(start)) return []
    const found: Array<SkillSummary> = []
    const visited = new Set([start.value])
    const queue: Array<readonly [string, number]> = [[start.value, 0]]
    let truncated = false
    const enqueue = (dir: string, depth: number) => {
      if (depth > MAX_SCAN_DEPTH) return
      if (visited.size >= MAX_SKILL_DIRS) {
        truncated = true
        return
      }
      if (!visited.has(dir)) {
        visited.add(dir)
        queue.push([dir, depth])
      }
    }
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [dir, depth] = next
      const entries = yield* fs.readDirectoryEntries(dir).pipe(Effect.orElseSucceed(() => []))
      for (const entry of entries) {
        if (entry.name.startsWith(".")) continue
        const full = path.join(dir, entry.name)
        if (entry.type === "SymbolicLink" || entry.type === "Directory") {
          // followed only while the target stays inside the plugin root; symlinked SKILL.md files are skipped
          const real = yield* inside(realRoot, full)
          if (Option.isNone(real)) continue
          const info = yield* fs.stat(real.value).pipe(Effect.option)
          if (Option.isSome(info) && info.value.type === "Directory") enqueue(real.value, depth + 1)
          continue
        }
        if (entry.type !== "File" || entry.name !== "SKILL.md") continue
        const contents = yield* readUtf8(full)
        if (Option.isNone(contents)) continue
        const yamlText = yield* readText(realRoot, path.join(dir, "agents", "openai.yaml"))
        const skill = parseSkill(contents.value, full, namespace, Option.getOrNull(yamlText), warnings)
        if (Result.isFailure(skill)) warnings.push(`failed to load skill ${full}: ${skill.failure}`)
        else found.push(skill.success)
      }
    }
    if (truncated) warnings.push(`skills scan truncated after ${MAX_SKILL_DIRS} directories (root: ${start.value})`)
    return found
  })

  const read = Effect.fn("PluginBundle.read")(function*(root: string) {
    const { decoded, realRoot } = yield* rootOf(root)
    const { manifest } = decoded
    const warnings = [...decoded.warnings]
    const skillRoots = [path.join(realRoot, "skills"), ...(manifest.skills === null ? [] : [manifest.skills])]
    const scanned = (yield* Effect.forEach(skillRoots, (r) => scanSkills(realRoot, r, manifest.name, warnings))).flat()
    // a SKILL.md reached twice (both roots, or through a symlink) is listed once; then by name, then path
    const unique = new Map(scanned.map((s) => [s.path, s] as const).reverse())
    const skills = [...unique.values()].sort((a, b) => compareUtf8(a.name, b.name) || comparePaths(a.path, b.path))
    // the manifest file wins; the default is read only when the manifest gives no (valid) path
    const mcpFile = manifest.mcpServers ?? path.join(root, ".mcp.json")
    const mcpText = yield* readText(realRoot, mcpFile)
    const mcpServers = Option.isSome(mcpText) ? mcpServerNames(mcpText.value, mcpFile, warnings) : []
    const appText = yield* readText(realRoot, manifest.apps ?? path.join(root, ".app.json"))
    const apps = Option.isSome(appText) ? appSummaries(appText.value, warnings) : []
    return { root, manifest, warnings, skills, mcpServers, apps }
  })

  return PluginBundle.of({ readManifest, read })
})

/** Reads plugin roots from disk. Needs `FileSystem` and `Path` only to be built. */
export class PluginBundle extends Context.Service<PluginBundle, PluginBundleShape>()("plugin-ledger/adapters/PluginBundle") {
  static readonly make: Effect.Effect<PluginBundleShape, never, FileSystem.FileSystem | Path.Path> = make
  static readonly layer: Layer.Layer<PluginBundle, never, FileSystem.FileSystem | Path.Path> = Layer.effect(PluginBundle, make)
}
