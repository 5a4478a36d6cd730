import { Option, Result, Schema } from "effect"
import { parse, TomlError, type TomlTable, type TomlValue } from "smol-toml"
import { isTable, sameExceptPlugin, sameValue } from "./TomlCompare.ts"
import { editBasisOf, prepareNextBasis, rememberEdit } from "./TomlEditBasis.ts"
import { type Block, type Layout, type Line, makeNode, type TableNode } from "./TomlLayout.ts"
import { applySplices, type TomlSplice } from "./TomlSplice.ts"

export class ConfigTomlError extends Schema.TaggedError<ConfigTomlError>()("ConfigTomlError", {
  reason: Schema.Literals(["Unparsable", "UnsupportedLayout"]),
  message: Schema.String
}) {}

export interface PluginConfigEntry {
  readonly enabled: boolean | undefined
}

export interface ParsedConfig {
  readonly pluginsFeature: boolean | undefined
  readonly chatgptBaseUrl: string | undefined
  readonly plugins: ReadonlyMap<string, PluginConfigEntry>
}

const unsupported = (message: string) => new ConfigTomlError({ reason: "UnsupportedLayout", message })

/**
 * The documents of the last two texts parsed (never mutated here): a command reads config.toml several times under
 * the lock (its check, the hand-edit observation, the edit it previews and then projects, the capability feed), and
 * the text an edit produces is the one the next command reads. Parsed each time, config.toml made about half of a
 * daemon's garbage per event. Throws as `parse` does.
 */
const recentDocs: Array<{ readonly text: string; readonly doc: TomlTable }> = []
const parseDoc = (text: string): TomlTable => {
  const known = recentDocs.find((entry) => entry.text === text)
  if (known !== undefined) return known.doc
  const doc = parse(text)
  recentDocs.unshift({ text, doc })
  if (recentDocs.length > 2) recentDocs.pop()
  return doc
}

const parseToml = (text: string): Result.Result<TomlTable, ConfigTomlError> =>
  Result.try({
    try: () => parseDoc(text),
    catch: (e) =>
      new ConfigTomlError({
        reason: "Unparsable",
        message: e instanceof TomlError
          ? `config.toml is not valid TOML: ${e.message.split("\n")[0]} (line ${e.line}, column ${e.column})`
          : `config.toml is not valid TOML: ${String(e)}`
      })
  })

const decodeTable = Schema.decodeUnknownOption(Schema.Record(Schema.String, Schema.Unknown))
const decodeBoolean = Schema.decodeUnknownOption(Schema.Boolean)
const decodeString = Schema.decodeUnknownOption(Schema.String)
const decodeEntry = Schema.decodeUnknownOption(Schema.Struct({ enabled: Schema.Boolean }))

/** Lenient like Codex: a mistyped value reads as absent instead of failing the whole file. */
const toParsedConfig = (doc: TomlTable): ParsedConfig => {
  const features = Option.getOrUndefined(decodeTable(doc["features"]))
  const plugins = Option.getOrElse(decodeTable(doc["plugins"]), () => ({}))
  return {
    pluginsFeature: Option.getOrUndefined(decodeBoolean(features?.["plugins"])),
    chatgptBaseUrl: Option.getOrUndefined(decodeString(doc["chatgpt_base_url"])),
    plugins: new Map(Object.entries(plugins).map(([id, value]) => [id, {
      enabled: Option.getOrUndefined(Option.map(decodeEntry(value), (entry) => entry.enabled))
    }]))
  }
}

/** What each recent document says, shared like the document (so never changed by its readers either). */
const parsedConfigs = new WeakMap<TomlTable, ParsedConfig>()
const parsedConfigOf = (doc: TomlTable): ParsedConfig => {
  const known = parsedConfigs.get(doc)
  if (known !== undefined) return known
  const config = toParsedConfig(doc)
  parsedConfigs.set(doc, config)
  return config
}

export const parseConfig = (text: string): Result.Result<ParsedConfig, ConfigTomlError> =>
  Result.map(parseToml(text), parsedConfigOf)

type Op =
  | { readonly _tag: "Replace"; readonly enabled: boolean }
  | { readonly _tag: "Set"; readonly enabled: boolean }
  | { readonly _tag: "Remove" }

const subtreeBlocks = (node: TableNode): Array<Block> => [
  ...(node.block === undefined ? [] : [node.block]),
  ...[...node.children.values()].flatMap((c) => c.kind === "array" ? c.elements : [c]).flatMap(subtreeBlocks)
]

/** Removing a table removes its leading comments/blank lines too (they are its decor in toml_edit). */
const deleteSubtree = (node: TableNode): Array<TomlSplice> =>
  subtreeBlocks(node).map((b) => ({ start: b.prefixStart, end: b.bodyEnd, text: "" }))

/** toml_edit prints a table without position right after the last positioned table before it (depth first). */
const lastPositionBefore = (root: TableNode, target: TableNode): number => {
  let last = 0
  let found = 0
  const visit = (node: TableNode): void => {
    if (node.position !== undefined) last = node.position
    if (node === target) found = last
    for (const child of node.children.values()) {
      if (child.kind === "array") child.elements.forEach(visit)
      else if (child.kind !== "value") visit(child)
    }
  }
  visit(root)
  return found
}

const keyRepr = (name: string): string =>
  /^[A-Za-z0-9_-]+$/.test(name)
    ? name
    : !/[\x00-\x08\x0a-\x1f\x7f"\\]/.test(name)
    ? `"${name}"`
    : !/[\x00-\x08\x0a-\x1f\x7f']/.test(name)
    ? `'${name}'`
    : JSON.stringify(name).replace(/\\u007f/g, "\\u007F")

const findEnabled = (block: Block) =>
  block.keyvals.find(({ line }) => line.keys.length === 1 && line.keys[0]?.name === "enabled")

const refusal = (pluginsNode: TableNode | undefined, target: TableNode | undefined, pluginId: string) => {
  if (pluginsNode?.kind === "value") return "`plugins` is defined inline (`plugins = { ... }`); refusing to rewrite"
  if (pluginsNode?.kind === "array") return "`plugins` is an array of tables; refusing to rewrite"
  if (target?.kind === "value") return `plugin \`${pluginId}\` is defined as an inline table; refusing to rewrite`
  if (target?.kind === "dotted") return `plugin \`${pluginId}\` is defined with dotted keys; refusing to rewrite`
  if (target?.kind === "array") return `plugin \`${pluginId}\` is an array of tables; refusing to rewrite`
  return undefined
}

/** The splices Codex (toml_edit) would make, limited to the `[plugins."<id>"]` tables. */
const plan = (text: string, layout: Layout, pluginId: string, op: Op): ReadonlyArray<TomlSplice> => {
  const { root, blocks, eol } = layout
  const lineEol = (line: Line) => line.end > line.contentEnd ? text.slice(line.contentEnd, line.end) : eol
  const atEofWithoutEol = (offset: number) => offset === text.length && text.length > 0 && !text.endsWith("\n")
  let pluginsNode = root.children.get("plugins")
  let target = pluginsNode?.children.get(pluginId)
  if (op._tag === "Remove") {
    return target === undefined ? [] : deleteSubtree(target)
  }
  const value = String(op.enabled)
  if (op._tag === "Set" && target?.block !== undefined) {
    const kv = findEnabled(target.block)
    if (kv !== undefined) {
      const { contentEnd, end, valueEnd, valueStart } = kv.line
      // like Codex, a rewritten last line gets its line break
      const tail = end === contentEnd && atEofWithoutEol(end) ? [{ start: end, end, text: eol }] : []
      return [{ start: valueStart, end: valueEnd, text: value }, ...tail]
    }
    const at = target.block.bodyEnd
    return [{ start: at, end: at, text: `${atEofWithoutEol(at) ? eol : ""}enabled = ${value}${eol}` }]
  }
  // Replace, or Set on a table that has no header of its own: (re)print the table where toml_edit puts it
  const deletions = op._tag === "Replace" && target !== undefined ? deleteSubtree(target) : []
  const old = target?.block
  const kv = old === undefined ? undefined : findEnabled(old)
  if (pluginsNode === undefined) {
    pluginsNode = makeNode("implicit", undefined)
    root.children.set("plugins", pluginsNode)
  }
  if (target === undefined) {
    target = makeNode("table", undefined)
    pluginsNode.children.set(pluginId, target)
  } else if (op._tag === "Replace") {
    target.children.clear()
  }
  target.position = undefined
  const id = lastPositionBefore(root, target)
  const at = blocks[id]?.bodyEnd ?? text.length
  const first = id === 0 && (blocks[0]?.keyvals.length ?? 0) === 0
  const pluginsKey = pluginsNode.key ?? { raw: "plugins", after: "" }
  const idKey = target.key ?? { raw: keyRepr(pluginId), before: "" }
  const header = old?.header === undefined
    ? `${first ? "" : eol}[${pluginsKey.raw}${pluginsKey.after}.${idKey.before}${idKey.raw}]${eol}`
    : text.slice(old.prefixStart, old.header.contentEnd) + lineEol(old.header)
  const body = kv === undefined
    ? `enabled = ${value}${eol}`
    : text.slice(kv.prefixStart, kv.line.valueStart) + value + text.slice(kv.line.valueEnd, kv.line.contentEnd) +
      lineEol(kv.line)
  return [...deletions, { start: at, end: at, text: (atEofWithoutEol(at) ? eol : "") + header + body }]
}

/**
 * The last edit made: a command previews its edit before appending (to refuse what cannot be written) and its
 * projection then makes the same edit of the same text.
 */
let lastEdit: {
  readonly text: string
  readonly pluginId: string
  readonly op: Op
  readonly result: Result.Result<string, ConfigTomlError>
} | undefined

const sameOp = (a: Op, b: Op): boolean =>
  a._tag === b._tag && (a._tag === "Remove" || b._tag === "Remove" || a.enabled === b.enabled)

const edit = (text: string, pluginId: string, op: Op): Result.Result<string, ConfigTomlError> => {
  if (lastEdit !== undefined && lastEdit.pluginId === pluginId && sameOp(lastEdit.op, op) && lastEdit.text === text) {
    return lastEdit.result
  }
  const result = editUncached(text, pluginId, op)
  lastEdit = { text, pluginId, op, result }
  return result
}

const editUncached = (text: string, pluginId: string, op: Op): Result.Result<string, ConfigTomlError> => {
  const parsed = parseToml(text)
  if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
  const before = parsed.success
  const plugins = before["plugins"]
  const current = isTable(plugins) ? plugins[pluginId] : undefined
  const entry: TomlValue | undefined = op._tag === "Remove"
    ? undefined
    : op._tag === "Replace"
    ? { enabled: op.enabled }
    : { ...(isTable(current) ? current : {}), enabled: op.enabled }
  if (sameValue(current, entry)) return Result.succeed(text)
  const basis = editBasisOf(text)
  if (Result.isFailure(basis)) return Result.fail(unsupported(`cannot scan config.toml: ${basis.failure}`))
  const { layout, lines } = basis.success
  const pluginsNode = layout.root.children.get("plugins")
  const refused = refusal(pluginsNode, pluginsNode?.children.get(pluginId), pluginId)
  if (refused !== undefined) return Result.fail(unsupported(refused))
  const splices = plan(text, layout, pluginId, op)
  const next = applySplices(text, splices)
  const after = parseToml(next)
  if (Result.isFailure(after)) {
    return Result.fail(
      unsupported(`editing plugin \`${pluginId}\` would produce invalid TOML (${after.failure.message}); refusing to write`)
    )
  }
  // the safety net under the layout scan and the splices: the edited text, parsed on its own, must say what the
  // text said everywhere but in this plugin's table, and that table must say what was meant
  const afterPlugins = after.success["plugins"]
  if (!sameExceptPlugin(after.success, before, pluginId) ||
      !sameValue(isTable(afterPlugins) ? afterPlugins[pluginId] : undefined, entry)) {
    return Result.fail(
      unsupported(`editing plugin \`${pluginId}\` in this layout would change more than its table; refusing to write`)
    )
  }
  rememberEdit(text, lines, splices, next)
  return Result.succeed(next)
}

/**
 * For idle time (a long-running process, once a projection has settled): works out ahead what the next edit of the
 * text the last edit produced needs from that text alone (`TomlEditBasis.ts`), so the next command does not.
 */
export const prepareNextEdit: () => void = prepareNextBasis

/** Codex install: the value of `plugins."<id>"` is replaced by `{ enabled }` (extra keys and sub-tables go). */
export const replacePluginTable = (
  text: string,
  pluginId: string,
  enabled: boolean
): Result.Result<string, ConfigTomlError> =>
  edit(text, pluginId, { _tag: "Replace", enabled })

/** Sets only `enabled` in `[plugins."<id>"]`, creating the table when missing. */
export const setPluginEnabled = (
  text: string,
  pluginId: string,
  enabled: boolean
): Result.Result<string, ConfigTomlError> =>
  edit(text, pluginId, { _tag: "Set", enabled })

/** Codex uninstall (`ClearPath ["plugins", id]`): the table, its sub-tables and their leading comments go. */
export const removePluginTable = (text: string, pluginId: string): Result.Result<string, ConfigTomlError> =>
  edit(text, pluginId, { _tag: "Remove" })

/** Why Codex would refuse to load a config.toml: a TOML syntax error (with its position) or a mistyped key we read. */
export interface ConfigProblem {
  readonly kind: "Syntax" | "Type"
  readonly line?: number
  readonly column?: number
  /** the dotted key path of a mistyped value, e.g. `plugins.x@y.enabled` */
  readonly keyPath?: string
  readonly message: string
}

const describeTomlValue = (value: unknown): string => {
  if (typeof value === "string") return `string ${JSON.stringify(value)}`
  if (typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value))) return `integer \`${value}\``
  if (typeof value === "number") return `floating point \`${value}\``
  if (Array.isArray(value)) return "sequence"
  if (value instanceof Date) return "datetime"
  return "map"
}

/**
 * Strict check of the keys plugin state depends on (the reference fails the request on these, where
 * `parseConfig` reads leniently): the file must parse, `[features] plugins` and every
 * `[plugins."<id>"] enabled` must be booleans when present.
 */
export const checkConfig = (text: string): ConfigProblem | undefined => inspectConfig(text).problem

type Inspection = { readonly problem: ConfigProblem | undefined; readonly config: ParsedConfig | undefined }

/**
 * The last text inspected and what it gave (a pure function of the text, all readonly): an install reads the same
 * config.toml to check it, then again under the lock to look for hand edits, and the second is not parsed again.
 */
let lastInspection: { readonly text: string; readonly result: Inspection } | undefined

/**
 * One parse for both questions a reader of config.toml asks: would Codex refuse it (`problem`, as `checkConfig`),
 * and what does it say (`config`, as `parseConfig`; undefined only when the TOML itself does not parse).
 */
export const inspectConfig = (text: string): Inspection => {
  if (lastInspection !== undefined && lastInspection.text === text) return lastInspection.result
  const result = inspectUncached(text)
  lastInspection = { text, result }
  return result
}

const inspectUncached = (text: string): Inspection => {
  let doc: TomlTable
  try {
    doc = parseDoc(text)
  } catch (e) {
    const problem: ConfigProblem = e instanceof TomlError
      ? { kind: "Syntax", line: e.line, column: e.column, message: e.message.split("\n")[0] ?? e.message }
      : { kind: "Syntax", message: String(e) }
    return { problem, config: undefined }
  }
  return { problem: typeProblem(doc), config: parsedConfigOf(doc) }
}

const typeProblem = (doc: TomlTable): ConfigProblem | undefined => {
  const mistyped = (keyPath: string, value: unknown): ConfigProblem | undefined =>
    value === undefined || typeof value === "boolean"
      ? undefined
      : { kind: "Type", keyPath, message: `invalid type: ${describeTomlValue(value)}, expected a boolean` }
  const features = doc["features"]
  if (isTable(features)) {
    const problem = mistyped("features.plugins", features["plugins"])
    if (problem !== undefined) return problem
  }
  const plugins = doc["plugins"]
  if (isTable(plugins)) {
    for (const [id, entry] of Object.entries(plugins)) {
      if (!isTable(entry)) continue
      const problem = mistyped(`plugins.${id}.enabled`, entry["enabled"])
      if (problem !== undefined) return problem
    }
  }
  return undefined
}
