/**
 * Decoding of request params with the error texts the reference (Rust serde) produces, so that
 * `Invalid request: …` messages match byte for byte. Only the shapes the wire needs are supported.
 */
import { Result } from "effect"

export type WireType =
  | { readonly kind: "string" }
  | { readonly kind: "boolean" }
  | { readonly kind: "integer" }
  | { readonly kind: "absolutePath" }
  | { readonly kind: "option"; readonly inner: WireType }
  | { readonly kind: "sequence"; readonly item: WireType }
  | { readonly kind: "struct"; readonly name: string; readonly fields: ReadonlyArray<WireField> }

export interface WireField {
  readonly key: string
  readonly type: WireType
  /** a missing key is an error unless the field is an option or has a default */
  readonly defaultValue?: unknown
}

export const string: WireType = { kind: "string" }
export const boolean: WireType = { kind: "boolean" }
export const integer: WireType = { kind: "integer" }
export const absolutePath: WireType = { kind: "absolutePath" }
export const option = (inner: WireType): WireType => ({ kind: "option", inner })
export const sequence = (item: WireType): WireType => ({ kind: "sequence", item })
export const struct = (name: string, fields: ReadonlyArray<WireField>): WireType => ({ kind: "struct", name, fields })

/** Rust `{:?}` of a str: quotes and escapes, non-ASCII kept as is. */
const rustDebugString = (s: string): string => {
  let out = "\""
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0
    if (ch === "\"") out += "\\\""
    else if (ch === "\\") out += "\\\\"
    else if (ch === "\n") out += "\\n"
    else if (ch === "\r") out += "\\r"
    else if (ch === "\t") out += "\\t"
    else if (ch === "\0") out += "\\0"
    else if (code < 0x20 || code === 0x7f) out += `\\u{${code.toString(16)}}`
    else out += ch
  }
  return `${out}"`
}

/** serde's `Unexpected` rendering of a JSON value. */
export const describeUnexpected = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "boolean") return `boolean \`${value}\``
  if (typeof value === "number") {
    return Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER
      ? `integer \`${value}\``
      : `floating point \`${Number.isInteger(value) ? value.toFixed(1) : String(value)}\``
  }
  if (typeof value === "string") return `string ${rustDebugString(value)}`
  if (Array.isArray(value)) return "sequence"
  return "map"
}

const expecting = (type: WireType): string => {
  switch (type.kind) {
    case "string":
      return "a string"
    case "boolean":
      return "a boolean"
    case "integer":
      return "u32"
    case "absolutePath":
      return "path string"
    case "option":
      return expecting(type.inner)
    case "sequence":
      return "a sequence"
    case "struct":
      return `struct ${type.name}`
  }
}

const invalidType = (value: unknown, type: WireType): string =>
  `invalid type: ${describeUnexpected(value)}, expected ${expecting(type)}`

/** Lexical normalisation of an absolute POSIX path, as the reference's AbsolutePathBuf does. */
export const normalizeAbsolute = (path: string): string => {
  const parts: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") parts.pop()
    else parts.push(part)
  }
  return `/${parts.join("/")}`
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const decodeStruct = (
  type: Extract<WireType, { kind: "struct" }>,
  value: unknown
): Result.Result<Record<string, unknown>, string> => {
  const out: Record<string, unknown> = {}
  if (Array.isArray(value)) {
    // serde derives accept a struct as a sequence of its fields in declaration order
    for (const [index, field] of type.fields.entries()) {
      if (index >= value.length) {
        return Result.fail(`invalid length ${value.length}, expected struct ${type.name} with ${type.fields.length} elements`)
      }
      const decoded = decodeValue(field.type, value[index])
      if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
      out[field.key] = decoded.success
    }
    if (value.length > type.fields.length) {
      return Result.fail(`invalid length ${value.length}, expected struct ${type.name} with ${type.fields.length} elements`)
    }
    return Result.succeed(out)
  }
  if (!isRecord(value)) return Result.fail(invalidType(value, type))
  for (const [key, raw] of Object.entries(value)) {
    const field = type.fields.find((f) => f.key === key)
    if (field === undefined) continue // unknown fields are ignored, as serde does by default
    const decoded = decodeValue(field.type, raw)
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    out[key] = decoded.success
  }
  for (const field of type.fields) {
    if (field.key in out) continue
    if (field.type.kind === "option") out[field.key] = null
    else if ("defaultValue" in field) out[field.key] = field.defaultValue
    else return Result.fail(`missing field \`${field.key}\``)
  }
  return Result.succeed(out)
}

export const decodeValue = (type: WireType, value: unknown): Result.Result<unknown, string> => {
  switch (type.kind) {
    case "string":
      return typeof value === "string" ? Result.succeed(value) : Result.fail(invalidType(value, type))
    case "boolean":
      return typeof value === "boolean" ? Result.succeed(value) : Result.fail(invalidType(value, type))
    case "integer":
      return typeof value === "number" && Number.isInteger(value) && value >= 0
        ? Result.succeed(value)
        : Result.fail(invalidType(value, type))
    case "absolutePath":
      if (typeof value !== "string") return Result.fail(invalidType(value, type))
      return value.startsWith("/")
        ? Result.succeed(normalizeAbsolute(value))
        : Result.fail("AbsolutePathBuf deserialized without a base path")
    case "option":
      return value === null || value === undefined ? Result.succeed(null) : decodeValue(type.inner, value)
    case "sequence": {
      if (!Array.isArray(value)) return Result.fail(invalidType(value, type))
      const items: Array<unknown> = []
      for (const item of value) {
        const decoded = decodeValue(type.item, item)
        if (Result.isFailure(decoded)) return decoded
        items.push(decoded.success)
      }
      return Result.succeed(items)
    }
    case "struct":
      return decodeStruct(type, value)
  }
}
