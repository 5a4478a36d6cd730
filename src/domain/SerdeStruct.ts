import { Result, Schema, SchemaIssue } from "effect"
import { formatJsonFailure, type JsonFailure, type JsonNode, type JsonPath, nodeAt, readJson, toPlain } from "./SerdeJson.ts"

// serde's data-model errors (`invalid type`, `missing field`, `duplicate field`, `unknown variant`) for a document
// that `readJson` parsed, phrased and positioned as serde_json reports them.

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
