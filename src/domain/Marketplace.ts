import { Result, Schema, SchemaIssue } from "effect"
import { checkPluginSourcePath, components, join } from "./PathRules.ts"
import { makePluginId, type PluginIdParts, pluginKey } from "./PluginId.ts"

// JSON text with positions. codex reads marketplace.json / plugin.json with serde_json, whose error texts carry
// `at line L column C` (C counts UTF-8 bytes). This reader reproduces serde_json's syntax errors and keeps every
// value's offsets so that schema failures can be reported at the position serde would use.
// (Candidate for its own module, e.g. src/domain/SerdeJson.ts; kept here because only the named files may change.)

export type JsonPath = ReadonlyArray<string | number>
export interface JsonEntry {
  readonly key: string
  /** offset just after the key's closing quote (serde reports `duplicate field` there) */
  readonly keyEnd: number
  readonly value: JsonNode
}
interface Span {
  readonly start: number
  readonly end: number
}
export type JsonNode =
  | (Span & { readonly kind: "null" })
  | (Span & { readonly kind: "bool"; readonly value: boolean })
  | (Span & { readonly kind: "number"; readonly value: number; readonly text: string })
  | (Span & { readonly kind: "string"; readonly value: string })
  | (Span & { readonly kind: "array"; readonly items: ReadonlyArray<JsonNode> })
  | (Span & { readonly kind: "object"; readonly entries: ReadonlyArray<JsonEntry> })

/** A serde_json-style failure: `message` is the text before ` at line …`, `index` the offset it points at. */
export interface JsonFailure {
  readonly message: string
  readonly index: number
  /** serde "peek" position: the character at `index` counts as read (one byte of it, as serde counts bytes) */
  readonly peek?: boolean
  /** for a syntax error: the values read before it (open containers end at `index`) */
  readonly partial?: JsonNode
}

const encoder = new TextEncoder()

/** serde_json `position_of_index`: 1-based line, column = UTF-8 bytes since the last `\n`. */
export const jsonPosition = (text: string, index: number, peek = false): { readonly line: number; readonly column: number } => {
  const before = text.slice(0, index)
  const lineStart = before.lastIndexOf("\n") + 1
  const extra = peek && index < text.length ? 1 : 0
  return { line: before.split("\n").length, column: encoder.encode(before.slice(lineStart)).length + extra }
}

export const formatJsonFailure = (text: string, failure: JsonFailure): string => {
  const { column, line } = jsonPosition(text, failure.index, failure.peek === true)
  return `${failure.message} at line ${line} column ${column}`
}

class JsonSyntax {
  readonly failure: JsonFailure
  partial: JsonNode | undefined = undefined
  constructor(failure: JsonFailure) {
    this.failure = failure
  }
}

/** Parses JSON text exactly as strictly as serde_json (no comments, no trailing commas, depth ≤ 128). */
export const readJson = (text: string): Result.Result<JsonNode, JsonFailure> => {
  let i = 0
  const fail = (message: string, index: number, peek = false): never => {
    throw new JsonSyntax({ message, index: Math.min(index, text.length), peek })
  }
  const peekFail = (message: string): never => fail(message, i, true)
  // containers left open by a syntax error end "after everything", so nothing is reported at their end
  const OPEN = text.length + 1
  const ws = () => {
    while (i < text.length && " \n\t\r".includes(text.charAt(i))) i++
  }
  const ident = (word: string) => {
    for (const expected of word) {
      if (i >= text.length) fail("EOF while parsing a value", i)
      const got = text.charAt(i++)
      if (got !== expected) fail("expected ident", i)
    }
  }
  const hex4 = (): number => {
    if (i + 4 > text.length) fail("EOF while parsing a string", text.length)
    const digits = text.slice(i, i + 4)
    i += 4
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) fail("invalid escape", i)
    return parseInt(digits, 16)
  }
  const string = (): string => {
    i++ // opening quote
    let out = ""
    for (;;) {
      if (i >= text.length) fail("EOF while parsing a string", i)
      const c = text.charAt(i++)
      if (c === "\"") return out
      if (c.charCodeAt(0) < 0x20) fail("control character (\\u0000-\\u001F) found while parsing a string", i)
      if (c !== "\\") {
        out += c
        continue
      }
      if (i >= text.length) fail("EOF while parsing a string", i)
      const e = text.charAt(i++)
      const simple: Record<string, string> = { "\"": "\"", "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" }
      const mapped = simple[e]
      if (mapped !== undefined) {
        out += mapped
        continue
      }
      if (e !== "u") fail("invalid escape", i)
      const unit = hex4()
      if (unit >= 0xdc00 && unit <= 0xdfff) fail("lone leading surrogate in hex escape", i)
      if (unit >= 0xd800 && unit <= 0xdbff) {
        if (text.slice(i, i + 2) !== "\\u") fail("unexpected end of hex escape", i)
        i += 2
        const low = hex4()
        if (low < 0xdc00 || low > 0xdfff) fail("lone leading surrogate in hex escape", i)
        out += String.fromCharCode(unit, low)
      } else {
        out += String.fromCharCode(unit)
      }
    }
  }
  const isDigit = (c: string) => c >= "0" && c <= "9"
  const number = (): JsonNode => {
    const start = i
    if (text.charAt(i) === "-") i++
    if (i >= text.length) fail("EOF while parsing a value", i)
    const first = text.charAt(i++)
    if (first === "0") {
      if (isDigit(text.charAt(i))) peekFail("invalid number")
    } else if (first >= "1" && first <= "9") {
      while (isDigit(text.charAt(i))) i++
    } else {
      fail("invalid number", i)
    }
    if (text.charAt(i) === ".") {
      i++
      if (i >= text.length) peekFail("EOF while parsing a value")
      if (!isDigit(text.charAt(i))) peekFail("invalid number")
      while (isDigit(text.charAt(i))) i++
    }
    if (text.charAt(i) === "e" || text.charAt(i) === "E") {
      i++
      if (text.charAt(i) === "+" || text.charAt(i) === "-") i++
      if (i >= text.length) fail("EOF while parsing a value", i)
      if (!isDigit(text.charAt(i++))) fail("invalid number", i)
      while (isDigit(text.charAt(i))) i++
    }
    const literal = text.slice(start, i)
    return { kind: "number", value: Number(literal), text: literal, start, end: i }
  }
  const value = (depth: number): JsonNode => {
    ws()
    if (i >= text.length) peekFail("EOF while parsing a value")
    const start = i
    const c = text.charAt(i)
    if (c === "n" || c === "t" || c === "f") {
      i++
      ident(c === "n" ? "ull" : c === "t" ? "rue" : "alse")
      return c === "n" ? { kind: "null", start, end: i } : { kind: "bool", value: c === "t", start, end: i }
    }
    if (c === "-" || isDigit(c)) return number()
    if (c === "\"") return { kind: "string", value: string(), start, end: i }
    if (c === "[" || c === "{") {
      if (depth >= 128) peekFail("recursion limit exceeded")
      i++
      return c === "[" ? array(start, depth + 1) : object(start, depth + 1)
    }
    return peekFail("expected value")
  }
  const array = (start: number, depth: number): JsonNode => {
    const items: Array<JsonNode> = []
    try {
      ws()
      if (text.charAt(i) === "]") {
        i++
        return { kind: "array", items, start, end: i }
      }
      for (;;) {
        if (i >= text.length) peekFail("EOF while parsing a list")
        items.push(value(depth))
        ws()
        const c = text.charAt(i)
        if (i >= text.length) peekFail("EOF while parsing a list")
        if (c === "]") {
          i++
          return { kind: "array", items, start, end: i }
        }
        if (c !== ",") peekFail("expected `,` or `]`")
        i++
        ws()
        if (text.charAt(i) === "]") peekFail("trailing comma")
      }
    } catch (error) {
      if (error instanceof JsonSyntax) {
        const inner = error.partial
        error.partial = { kind: "array", items: inner === undefined ? items : [...items, inner], start, end: OPEN }
      }
      throw error
    }
  }
  const object = (start: number, depth: number): JsonNode => {
    const entries: Array<JsonEntry> = []
    let pending: { readonly key: string; readonly keyEnd: number } | undefined
    try {
      ws()
      if (text.charAt(i) === "}") {
        i++
        return { kind: "object", entries, start, end: i }
      }
      for (;;) {
        if (i >= text.length) peekFail("EOF while parsing an object")
        if (text.charAt(i) !== "\"") peekFail("key must be a string")
        const key = string()
        const keyEnd = i
        pending = { key, keyEnd }
        ws()
        if (i >= text.length) peekFail("EOF while parsing an object")
        if (text.charAt(i) !== ":") peekFail("expected `:`")
        i++
        entries.push({ key, keyEnd, value: value(depth) })
        pending = undefined
        ws()
        if (i >= text.length) peekFail("EOF while parsing an object")
        const c = text.charAt(i)
        if (c === "}") {
          i++
          return { kind: "object", entries, start, end: i }
        }
        if (c !== ",") peekFail("expected `,` or `}`")
        i++
        ws()
        if (text.charAt(i) === "}") peekFail("trailing comma")
      }
    } catch (error) {
      if (error instanceof JsonSyntax) {
        const inner = error.partial
        // a key already read still counts (serde checks duplicates on the key); an unread value is a placeholder
        const open = pending === undefined ? [] : [{ ...pending, value: inner ?? { kind: "null" as const, start: OPEN, end: OPEN } }]
        error.partial = { kind: "object", entries: [...entries, ...open], start, end: OPEN }
      }
      throw error
    }
  }
  try {
    const root = value(0)
    ws()
    if (i < text.length) {
      // serde has already deserialised the complete value when it finds trailing characters
      return Result.fail({ message: "trailing characters", index: i, peek: true, partial: root })
    }
    return Result.succeed(root)
  } catch (error) {
    if (error instanceof JsonSyntax) {
      return Result.fail(error.partial === undefined ? error.failure : { ...error.failure, partial: error.partial })
    }
    throw error
  }
}

/** The plain value `JSON.parse` would give (a repeated key keeps its last value). */
export const toPlain = (node: JsonNode): unknown => {
  switch (node.kind) {
    case "null":
      return null
    case "bool":
    case "number":
    case "string":
      return node.value
    case "array":
      return node.items.map(toPlain)
    case "object": {
      const out: Record<string, unknown> = {}
      for (const entry of node.entries) {
        Object.defineProperty(out, entry.key, { value: toPlain(entry.value), enumerable: true, writable: true, configurable: true })
      }
      return out
    }
  }
}

export const nodeAt = (root: JsonNode, path: JsonPath): JsonNode | undefined => {
  let node: JsonNode | undefined = root
  for (const step of path) {
    if (node === undefined) return undefined
    if (node.kind === "array" && typeof step === "number") node = node.items[step]
    else if (node.kind === "object" && typeof step === "string") node = node.entries.findLast((e) => e.key === step)?.value
    else return undefined
  }
  return node
}

const rustDebugString = (s: string): string => {
  let out = "\""
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0
    if (ch === "\"" || ch === "\\") out += `\\${ch}`
    else if (ch === "\n") out += "\\n"
    else if (ch === "\r") out += "\\r"
    else if (ch === "\t") out += "\\t"
    else if (ch === "\0") out += "\\0"
    else if (code < 0x20 || code === 0x7f) out += `\\u{${code.toString(16)}}`
    else out += ch
  }
  return `${out}"`
}

/** serde `Unexpected` as serde_json prints it inside `invalid type: …`. */
export const describeUnexpected = (node: JsonNode): string => {
  switch (node.kind) {
    case "null":
      return "null"
    case "bool":
      return `boolean \`${node.value}\``
    case "string":
      return `string ${rustDebugString(node.value)}`
    case "array":
      return "sequence"
    case "object":
      return "map"
    case "number": {
      if (/^-?\d+$/.test(node.text)) {
        const big = BigInt(node.text)
        if (big >= -(2n ** 63n) && big < 2n ** 64n) return `integer \`${big.toString()}\``
      }
      const v = node.value
      const shown = Number.isInteger(v) && Math.abs(v) < 1e21 ? `${BigInt(v).toString()}.0` : String(v)
      return `floating point \`${shown}\``
    }
  }
}

export interface SerdeEnum {
  readonly kind: "tag" | "unit"
  readonly variants: ReadonlyArray<string>
}

/** serde's list of expected variants: `` `a` ``, `` `a` or `b` ``, `` one of `a`, `b`, `c` ``. */
export const expectedVariants = (variants: ReadonlyArray<string>): string => {
  const quoted = variants.map((v) => `\`${v}\``)
  return quoted.length <= 2 ? quoted.join(" or ") : `one of ${quoted.join(", ")}`
}

/** What serde knows about the Rust structs behind a JSON document; paths use array indices and object keys. */
export interface SerdeShape {
  /** JSON key → Rust field name of the struct expected at `path` (aliases map to the field), if it is a struct. */
  readonly structFields: (path: JsonPath) => ReadonlyMap<string, string> | undefined
  /** The enum expected at `path`: an internally-tagged enum's tag, or a unit-variant enum. */
  readonly enumAt: (path: JsonPath) => SerdeEnum | undefined
  /**
   * For a path inside the content of an internally-tagged enum (not the tag itself), the path of the tagged
   * value: serde buffers that value first and reports content errors one token after it.
   */
  readonly bufferedIn: (path: JsonPath) => JsonPath | undefined
  /** Number of fields of `struct X`, for `invalid length 0, expected struct X with N elements`. */
  readonly fieldCount: (structName: string) => number | undefined
}

interface Leaf {
  readonly kind: "missing" | "type"
  readonly path: JsonPath
  readonly expected: string
}

const expectedOf = (ast: { readonly annotations?: { readonly [x: string]: unknown } | undefined }): string => {
  const expected = ast.annotations?.["expected"]
  return typeof expected === "string" ? expected : "a valid value"
}

const leaves = (issue: SchemaIssue.Issue, path: JsonPath, out: Array<Leaf>): void => {
  switch (issue._tag) {
    case "Pointer":
      return leaves(issue.issue, [...path, ...issue.path.filter((k) => typeof k === "string" || typeof k === "number")], out)
    case "Composite":
      for (const child of issue.issues) leaves(child, path, out)
      return
    case "MissingKey":
      out.push({ kind: "missing", path, expected: "" })
      return
    case "AnyOf": {
      // a union whose member matched the input's type reports that member's nested failures
      const nested = issue.issues.filter((child) => child._tag === "Composite" || child._tag === "Pointer")
      if (nested.length > 0) for (const child of nested) leaves(child, path, out)
      else out.push({ kind: "type", path, expected: expectedOf(issue.ast) })
      return
    }
    case "InvalidType":
      out.push({ kind: "type", path, expected: expectedOf(issue.ast) })
      return
    case "Filter":
      out.push({ kind: "type", path, expected: expectedOf(issue.filter) })
      return
    case "Encoding":
      return leaves(issue.issue, path, out)
    default:
      out.push({ kind: "type", path, expected: "a valid value" })
  }
}

/**
 * The serde_json error for a document that parsed but does not fit `shape`: the schema issue (if any) and
 * duplicate struct fields are turned into serde texts, and the one serde would meet first (smallest offset) wins.
 */
export const explainSerde = (
  text: string,
  root: JsonNode,
  shape: SerdeShape,
  issue: SchemaIssue.Issue | undefined
): JsonFailure | undefined => {
  const failures: Array<JsonFailure> = []
  // serde reports errors found while replaying a buffered value where the enclosing object's parser stands
  const at = (path: JsonPath, index: number, message: string): JsonFailure => {
    const owner = shape.bufferedIn(path)
    const ownerNode = owner === undefined ? undefined : nodeAt(root, owner)
    if (ownerNode === undefined) return { message, index }
    let j = ownerNode.end
    while (j < text.length && " \n\t\r".includes(text.charAt(j))) j++
    // serde_json's `end_map` has consumed a closing `}` (but not a `,`) when it fixes the position
    return { message, index: text.charAt(j) === "}" ? j + 1 : j }
  }
  const skipWs = (from: number): number => {
    let j = from
    while (j < text.length && " \n\t\r".includes(text.charAt(j))) j++
    return j
  }
  // serde_json also takes a unit variant written as a map, `{"VARIANT": null}`
  const mapVariant = (node: JsonNode & { readonly kind: "object" }, path: JsonPath, variants: ReadonlyArray<string>): void => {
    const [first, second] = node.entries
    if (first === undefined) failures.push({ ...at(path, skipWs(node.start + 1), "expected value"), peek: true })
    else if (!variants.includes(first.key)) {
      failures.push(at(path, first.keyEnd, `unknown variant \`${first.key}\`, expected ${expectedVariants(variants)}`))
    } else if (first.value.kind !== "null") {
      const index = first.value.kind === "array" || first.value.kind === "object" ? first.value.start : first.value.end
      failures.push(at(path, index, `invalid type: ${describeUnexpected(first.value)}, expected unit`))
    } else if (second !== undefined) failures.push(at(path, skipWs(first.value.end), "expected value"))
  }
  const duplicates = (node: JsonNode, path: JsonPath): void => {
    if (node.kind === "array") node.items.forEach((item, index) => duplicates(item, [...path, index]))
    if (node.kind !== "object") return
    const enumHere = shape.enumAt(path)
    if (enumHere?.kind === "unit") return mapVariant(node, path, enumHere.variants)
    const fields = shape.structFields(path)
    const seen = new Set<string>()
    for (const entry of node.entries) {
      const field = fields?.get(entry.key)
      if (field !== undefined) {
        if (seen.has(field)) failures.push(at([...path, entry.key], entry.keyEnd, `duplicate field \`${field}\``))
        seen.add(field)
      }
      if (fields === undefined || field !== undefined) duplicates(entry.value, [...path, entry.key])
    }
  }
  duplicates(root, [])
  const found: Array<Leaf> = []
  if (issue !== undefined) leaves(issue, [], found)
  for (const leaf of found) {
    const node = nodeAt(root, leaf.path)
    if (leaf.kind === "missing" || node === undefined) {
      const parentPath = leaf.path.slice(0, -1)
      const key = String(leaf.path[leaf.path.length - 1])
      const field = shape.structFields(parentPath)?.get(key) ?? key
      failures.push(at(leaf.path, nodeAt(root, parentPath)?.end ?? root.end, `missing field \`${field}\``))
      continue
    }
    const enumHere = shape.enumAt(leaf.path)
    const enumKind = enumHere?.kind
    if (enumKind === "unit" && node.kind === "object") {
      continue // reported by `mapVariant`
    } else if (enumHere !== undefined && node.kind === "string") {
      failures.push(at(leaf.path, node.end, `unknown variant \`${node.value}\`, expected ${expectedVariants(enumHere.variants)}`))
    } else if (enumKind === "tag") {
      failures.push(at(leaf.path, node.end, `invalid type: ${describeUnexpected(node)}, expected variant identifier`))
    } else if (node.kind === "array" && /^internally tagged enum /.test(leaf.expected)) {
      // serde reads a sequence's first element as the tag
      const tag = String(shape.structFields(leaf.path)?.keys().next().value ?? "type")
      failures.push(at(leaf.path, node.end, `missing field \`${tag}\``))
    } else if (enumKind === "unit") {
      // serde_json `deserialize_enum` peeks: anything but a string or a map is `expected value`
      failures.push({ ...at(leaf.path, node.start, "expected value"), peek: true })
    } else {
      const struct = /^struct (\w+)$/.exec(leaf.expected)?.[1]
      const count = struct === undefined ? undefined : shape.fieldCount(struct)
      if (node.kind === "array" && node.items.length === 0 && count !== undefined) {
        failures.push(at(leaf.path, node.end, `invalid length 0, expected ${leaf.expected} with ${count} elements`))
      } else {
        // serde_json rejects a map or sequence on sight (position of `{`/`[`), scalars after reading them
        const index = node.kind === "array" || node.kind === "object" ? node.start : node.end
        failures.push(at(leaf.path, index, `invalid type: ${describeUnexpected(node)}, expected ${leaf.expected}`))
      }
    }
  }
  const key = (f: JsonFailure) => f.index + (f.peek === true ? 0.5 : 0)
  return failures.reduce<JsonFailure | undefined>((best, f) => (best === undefined || key(f) < key(best) ? f : best), undefined)
}

const issueOf = <A>(result: Result.Result<A, Schema.SchemaError>): SchemaIssue.Issue | undefined =>
  Result.isFailure(result) ? result.failure.issue : undefined

/** Reads `text` as serde_json would into `schema`; fails with serde's message (including the position). */
export const decodeSerde = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  shape: SerdeShape,
  text: string
): Result.Result<{ readonly value: S["Type"]; readonly root: JsonNode }, string> => {
  const parsed = readJson(text)
  if (Result.isFailure(parsed)) {
    // serde deserialises while it parses: a schema error met before the syntax error wins
    const syntax = parsed.failure
    const partial = syntax.partial
    const early = partial === undefined
      ? undefined
      : explainSerde(text, partial, shape, issueOf(Schema.decodeUnknownResult(schema)(toPlain(partial), { errors: "all" })))
    const before = (a: JsonFailure, b: JsonFailure) => a.index + (a.peek === true ? 0.5 : 0) < b.index + (b.peek === true ? 0.5 : 0)
    return Result.fail(formatJsonFailure(text, early !== undefined && before(early, syntax) ? early : syntax))
  }
  const root = parsed.success
  const decoded = Schema.decodeUnknownResult(schema)(toPlain(root), { errors: "all" })
  const failure = explainSerde(text, root, shape, Result.isFailure(decoded) ? decoded.failure.issue : undefined)
  if (failure !== undefined) return Result.fail(formatJsonFailure(text, failure))
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure.message)
  return Result.succeed({ value: decoded.success, root })
}

// marketplace.json (codex 0.116.0 `RawMarketplaceManifest`)

export const InstallPolicy = Schema.Literals(["NOT_AVAILABLE", "AVAILABLE", "INSTALLED_BY_DEFAULT"])
export type InstallPolicy = typeof InstallPolicy.Type
export const AuthPolicy = Schema.Literals(["ON_INSTALL", "ON_USE"])
export type AuthPolicy = typeof AuthPolicy.Type
export type Product = "CHATGPT" | "CODEX" | "ATLAS"
/** The product the app-server lists for: `policy.products` without it hides the plugin from `plugin/list`. */
export const APP_SERVER_PRODUCT: Product = "CODEX"

const INSTALL_VARIANTS = ["NOT_AVAILABLE", "AVAILABLE", "INSTALLED_BY_DEFAULT"] as const
const AUTH_VARIANTS = ["ON_INSTALL", "ON_USE"] as const
const PRODUCT_VARIANTS = ["CHATGPT", "chatgpt", "CODEX", "codex", "ATLAS", "atlas"] as const
/** a unit-variant enum: its name, or the map form `{"NAME": null}` (checked by `explainSerde`) */
const unitEnum = <const V extends ReadonlyArray<string>>(variants: V) =>
  Schema.Union([Schema.Literals(variants), Schema.Record(Schema.String, Schema.Unknown)])
const variantOf = <V extends string>(variants: ReadonlyArray<V>, value: string | { readonly [k: string]: unknown }): V | undefined =>
  variants.find((v) => v === (typeof value === "string" ? value : Object.keys(value)[0]))
const RawProduct = unitEnum(PRODUCT_VARIANTS)
const Str = Schema.String.annotate({ expected: "a string" })
const OptionalStr = Schema.optionalKey(Schema.NullOr(Schema.String).annotate({ expected: "a string" }))

// 0.116.0 reads only the nested `policy` object; top-level `installPolicy`/`authPolicy` are unknown keys to it
// (verified: `"installPolicy":"NOT_AVAILABLE"` lists as AVAILABLE and installs). We honour them as a fallback,
// see `decodeMarketplaceText`.
const RawPolicy = Schema.Struct({
  installation: Schema.optionalKey(unitEnum(INSTALL_VARIANTS)),
  authentication: Schema.optionalKey(unitEnum(AUTH_VARIANTS)),
  products: Schema.optionalKey(Schema.Array(RawProduct).annotate({ expected: "a sequence" }))
}).annotate({ expected: "struct RawMarketplaceManifestPluginPolicy" })

const RawSource = Schema.Struct({
  source: Schema.Literal("local").annotate({ expected: "`local`" }),
  path: Str
}).annotate({ expected: "internally tagged enum RawMarketplaceManifestPluginSource" })

const RawPlugin = Schema.Struct({
  name: Str,
  source: RawSource,
  policy: Schema.optionalKey(RawPolicy),
  category: OptionalStr
}).annotate({ expected: "struct RawMarketplaceManifestPlugin" })

const RawInterface = Schema.Struct({ displayName: OptionalStr }).annotate({
  expected: "struct RawMarketplaceManifestInterface"
})

const RawMarketplace = Schema.Struct({
  name: Str,
  interface: Schema.optionalKey(Schema.NullOr(RawInterface).annotate({ expected: "struct RawMarketplaceManifestInterface" })),
  plugins: Schema.Array(RawPlugin).annotate({ expected: "a sequence" })
}).annotate({ expected: "struct RawMarketplaceManifest" })

const fields = (...names: ReadonlyArray<string>): ReadonlyMap<string, string> => new Map(names.map((n) => [n, n]))
const FIELDS = {
  top: fields("name", "interface", "plugins"),
  iface: fields("displayName"),
  plugin: fields("name", "source", "policy", "category"),
  policy: fields("installation", "authentication", "products"),
  source: fields("source", "path")
}
const COUNTS: Record<string, number> = {
  RawMarketplaceManifest: 3,
  RawMarketplaceManifestInterface: 1,
  RawMarketplaceManifestPlugin: 4
}
const isPluginPath = (path: JsonPath): boolean => path[0] === "plugins" && typeof path[1] === "number"

/** serde layout of `RawMarketplaceManifest`, used to phrase and position decode errors like serde_json. */
export const marketplaceShape: SerdeShape = {
  structFields: (path) => {
    if (path.length === 0) return FIELDS.top
    if (path.length === 1 && path[0] === "interface") return FIELDS.iface
    if (!isPluginPath(path)) return undefined
    if (path.length === 2) return FIELDS.plugin
    if (path.length === 3 && path[2] === "policy") return FIELDS.policy
    if (path.length === 3 && path[2] === "source") return FIELDS.source
    return undefined
  },
  enumAt: (path) => {
    if (!isPluginPath(path)) return undefined
    if (path.length === 4 && path[2] === "source" && path[3] === "source") return { kind: "tag", variants: ["local"] }
    if (path.length === 4 && path[2] === "policy" && path[3] === "installation") return { kind: "unit", variants: INSTALL_VARIANTS }
    if (path.length === 4 && path[2] === "policy" && path[3] === "authentication") return { kind: "unit", variants: AUTH_VARIANTS }
    if (path.length === 5 && path[2] === "policy" && path[3] === "products") return { kind: "unit", variants: PRODUCT_VARIANTS }
    return undefined
  },
  bufferedIn: (path) =>
    isPluginPath(path) && path.length >= 4 && path[2] === "source" && path[3] !== "source" ? path.slice(0, 3) : undefined,
  fieldCount: (name) => COUNTS[name]
}

export interface MarketplacePluginEntry {
  readonly name: string
  /** `source.path` exactly as written */
  readonly sourcePath: string
  readonly installPolicy: InstallPolicy
  readonly authPolicy: AuthPolicy
  /** empty = every product (0.116.0: an explicit `[]` also allows every product) */
  readonly products: ReadonlyArray<Product>
  /** marketplace taxonomy; overrides the manifest's `interface.category` when present (even `""`) */
  readonly category?: string
}

export interface MarketplaceInterface {
  readonly displayName: string
}

export interface MarketplaceFile {
  readonly path: string
  readonly name: string
  /** null unless `interface.displayName` is a string (`{}` → null, `""` → `{displayName:""}`) */
  readonly interface: MarketplaceInterface | null
  readonly plugins: ReadonlyArray<MarketplacePluginEntry>
}

export interface ResolvedPluginEntry extends MarketplacePluginEntry {
  /** `{plugin}@{marketplace}`, not validated (listing does not validate names) */
  readonly id: string
  /** absolute plugin directory (may not exist) */
  readonly sourceDir: string
}

export interface Marketplace extends Omit<MarketplaceFile, "plugins"> {
  /** the directory holding `.agents/`; null for a misplaced file without plugins */
  readonly root: string | null
  readonly plugins: ReadonlyArray<ResolvedPluginEntry>
}

export const MarketplaceErrorReason = Schema.Literals([
  "NotFound",
  "InvalidFile",
  "PluginNotFound",
  "PluginNotAvailable",
  "InvalidPlugin",
  "Io"
])
export type MarketplaceErrorReason = typeof MarketplaceErrorReason.Type

/** codex `MarketplaceError`; `message` is the exact Display text. */
export class MarketplaceError extends Schema.TaggedError<MarketplaceError>()("MarketplaceError", {
  reason: MarketplaceErrorReason,
  path: Schema.String,
  message: Schema.String
}) {
  static notFound(path: string): MarketplaceError {
    return new MarketplaceError({ reason: "NotFound", path, message: `marketplace file \`${path}\` does not exist` })
  }
  static invalidFile(path: string, detail: string): MarketplaceError {
    return new MarketplaceError({ reason: "InvalidFile", path, message: `invalid marketplace file \`${path}\`: ${detail}` })
  }
  /** binary: `failed to read marketplace file: Is a directory (os error 21)` (plugin/read wraps it in -32603) */
  static io(path: string, detail: string): MarketplaceError {
    return new MarketplaceError({ reason: "Io", path, message: `failed to read marketplace file: ${detail}` })
  }
  static pluginNotFound(path: string, plugin: string, marketplace: string): MarketplaceError {
    return new MarketplaceError({
      reason: "PluginNotFound",
      path,
      message: `plugin \`${plugin}\` was not found in marketplace \`${marketplace}\``
    })
  }
  static pluginNotAvailable(path: string, plugin: string, marketplace: string): MarketplaceError {
    return new MarketplaceError({
      reason: "PluginNotAvailable",
      path,
      message: `plugin \`${plugin}\` is not available for install in marketplace \`${marketplace}\``
    })
  }
  static invalidPlugin(path: string, message: string): MarketplaceError {
    return new MarketplaceError({ reason: "InvalidPlugin", path, message })
  }
}

const lastName = (path: string): { readonly parent: string; readonly name: string } | undefined => {
  const parts = components(path)
  const last = parts[parts.length - 1]
  if (last === undefined || last._tag !== "Normal") return undefined
  const names = parts.flatMap((c) => (c._tag === "Normal" ? [c.name] : []))
  return { parent: join(path.startsWith("/") ? "/" : ".", ...names.slice(0, -1)), name: last.name }
}

/**
 * The marketplace root: the file's parent must be named `plugins` and the grandparent `.agents` (the file name
 * itself is not checked: `.agents/plugins/other.json` works). The root is the parent of `.agents`.
 */
export const marketplaceRootOf = (marketplacePath: string): Result.Result<string, MarketplaceError> => {
  const file = lastName(marketplacePath)
  const plugins = file === undefined ? undefined : lastName(file.parent)
  const agents = plugins === undefined ? undefined : lastName(plugins.parent)
  if (plugins?.name !== "plugins" || agents?.name !== ".agents") {
    return Result.fail(MarketplaceError.invalidFile(marketplacePath, "marketplace file must live under `<root>/.agents/plugins/`"))
  }
  return Result.succeed(agents.parent)
}

const PRODUCTS: Record<string, Product> = { chatgpt: "CHATGPT", codex: "CODEX", atlas: "ATLAS" }

/**
 * Parses marketplace text. Errors are `invalid marketplace file `{path}`: {serde message}` with serde_json's text
 * and position, e.g. `{not json` → `key must be a string at line 1 column 2`.
 */
export const decodeMarketplaceText = (path: string, text: string): Result.Result<MarketplaceFile, MarketplaceError> =>
  decodeSerde(RawMarketplace, marketplaceShape, text).pipe(
    Result.mapError((detail) => MarketplaceError.invalidFile(path, detail)),
    Result.map(({ root, value }) => ({
      path,
      name: value.name,
      interface: typeof value.interface?.displayName === "string" ? { displayName: value.interface.displayName } : null,
      plugins: value.plugins.map((raw, index): MarketplacePluginEntry => {
        // Deliberate difference: the March 2026 contract's top-level `installPolicy` / `authPolicy` are honoured
        // when the nested `policy` does not set them (0.116.0 ignores them). Values that are not a known variant
        // stay ignored, so no file the reference accepts is rejected here.
        const topLevel = <V extends string>(key: string, variants: ReadonlyArray<V>): V | undefined => {
          const node = nodeAt(root, ["plugins", index, key])
          return node?.kind === "string" ? variants.find((v) => v === node.value) : undefined
        }
        const base = {
          name: raw.name,
          sourcePath: raw.source.path,
          installPolicy: (raw.policy?.installation === undefined ? undefined : variantOf(INSTALL_VARIANTS, raw.policy.installation)) ??
            topLevel("installPolicy", INSTALL_VARIANTS) ?? "AVAILABLE",
          authPolicy: (raw.policy?.authentication === undefined ? undefined : variantOf(AUTH_VARIANTS, raw.policy.authentication)) ??
            topLevel("authPolicy", AUTH_VARIANTS) ?? "ON_INSTALL",
          products: (raw.policy?.products ?? []).flatMap((p) => {
            const product = PRODUCTS[variantOf(PRODUCT_VARIANTS, p)?.toLowerCase() ?? ""]
            return product === undefined ? [] : [product]
          })
        }
        return typeof raw.category === "string" ? { ...base, category: raw.category } : base
      })
    }))
  )

const resolveEntry = (file: MarketplaceFile, entry: MarketplacePluginEntry): Result.Result<ResolvedPluginEntry, MarketplaceError> => {
  // the relative path is checked before the marketplace location (binary: a bad path wins over a bad location)
  const names = checkPluginSourcePath(entry.sourcePath)
  if (Result.isFailure(names)) return Result.fail(MarketplaceError.invalidFile(file.path, names.failure))
  return Result.map(marketplaceRootOf(file.path), (root) => ({
    ...entry,
    id: pluginKey(entry.name, file.name),
    sourceDir: join(root, ...names.success)
  }))
}

/** Resolves every entry, failing on the first bad one (what `plugin/list` and `plugin/read` do in 0.116.0). */
export const resolveMarketplace = (file: MarketplaceFile): Result.Result<Marketplace, MarketplaceError> => {
  const plugins: Array<ResolvedPluginEntry> = []
  for (const entry of file.plugins) {
    const resolved = resolveEntry(file, entry)
    if (Result.isFailure(resolved)) return Result.fail(resolved.failure)
    plugins.push(resolved.success)
  }
  // the location is only checked per entry: a misplaced file with no plugins is not an error (verified)
  const root = marketplaceRootOf(file.path)
  return Result.succeed({ ...file, root: Result.isSuccess(root) ? root.success : null, plugins })
}

export const parseMarketplace = (path: string, text: string): Result.Result<Marketplace, MarketplaceError> =>
  Result.flatMap(decodeMarketplaceText(path, text), resolveMarketplace)

/** `plugin/read`: the first entry with that name. */
export const findPlugin = (marketplace: Marketplace, pluginName: string): Result.Result<ResolvedPluginEntry, MarketplaceError> => {
  const entry = marketplace.plugins.find((p) => p.name === pluginName)
  return entry === undefined
    ? Result.fail(MarketplaceError.pluginNotFound(marketplace.path, pluginName, marketplace.name))
    : Result.succeed(entry)
}

/**
 * `plugin/install`: only the first entry with that name is resolved (other bad entries do not matter). Order:
 * not found → `NOT_AVAILABLE` → name validation (`PluginId::new`) → source path → marketplace location.
 * `policy.products` is NOT checked at install in 0.116.0.
 */
export const resolveInstallTarget = (
  file: MarketplaceFile,
  pluginName: string
): Result.Result<{ readonly entry: ResolvedPluginEntry; readonly pluginId: PluginIdParts }, MarketplaceError> => {
  const entry = file.plugins.find((p) => p.name === pluginName)
  if (entry === undefined) return Result.fail(MarketplaceError.pluginNotFound(file.path, pluginName, file.name))
  if (entry.installPolicy === "NOT_AVAILABLE") {
    return Result.fail(MarketplaceError.pluginNotAvailable(file.path, pluginName, file.name))
  }
  const id = makePluginId(entry.name, file.name)
  if (Result.isFailure(id)) return Result.fail(MarketplaceError.invalidPlugin(file.path, id.failure.message))
  return Result.map(resolveEntry(file, entry), (resolved) => ({ entry: resolved, pluginId: id.success }))
}

/** 0.116.0 `plugin/list` hides entries whose non-empty `policy.products` lacks the app-server product. */
export const isListedForProduct = (entry: MarketplacePluginEntry, product: Product = APP_SERVER_PRODUCT): boolean =>
  entry.products.length === 0 || entry.products.includes(product)
