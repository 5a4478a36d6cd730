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
  /**
   * `#[serde(default)]`: used for a missing key and for a missing trailing element of the sequence form.
   * Without it a missing key is an error unless the field is an option; a missing element always is.
   */
  readonly defaultValue?: unknown
  /** our own addition to a reference struct: accepted by key only, so the sequence form stays the reference's */
  readonly extension?: true
}

export const string: WireType = { kind: "string" }
export const boolean: WireType = { kind: "boolean" }
export const integer: WireType = { kind: "integer" }
export const absolutePath: WireType = { kind: "absolutePath" }
export const option = (inner: WireType): WireType => ({ kind: "option", inner })
export const sequence = (item: WireType): WireType => ({ kind: "sequence", item })
export const struct = (name: string, fields: ReadonlyArray<WireField>): WireType => ({ kind: "struct", name, fields })

/** Characters Rust's `char::escape_debug` writes as `\u{…}`: grapheme extenders and the non-printable classes. */
const RUST_UNICODE_ESCAPED = /^[\p{Grapheme_Extend}\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u

/** Rust `{:?}` of a str: quotes and escapes (`'` and printable non-ASCII kept as is). */
export const rustDebugString = (s: string): string => {
  let out = "\""
  for (const ch of s) {
    if (ch === "\"") out += "\\\""
    else if (ch === "\\") out += "\\\\"
    else if (ch === "\n") out += "\\n"
    else if (ch === "\r") out += "\\r"
    else if (ch === "\t") out += "\\t"
    else if (ch === "\0") out += "\\0"
    else if (ch !== " " && RUST_UNICODE_ESCAPED.test(ch)) out += `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`
    else out += ch
  }
  return `${out}"`
}

/**
 * An f64 as serde_json prints it in errors (the `zmij` shortest round-trip form): plain decimal with at least one
 * fractional digit for decimal exponents -5..=15 (`0.00001`, `1.5`, `1000000000000000.0`), else scientific with a
 * signed exponent (`1e-6`, `1e+16`, `1.8446744073709552e+19`).
 */
export const formatFloat = (value: number): string => {
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0"
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "NaN" : value > 0 ? "inf" : "-inf"
  const sign = value < 0 ? "-" : ""
  const [mantissa = "0", exponentText = "0"] = Math.abs(value).toExponential().split("e")
  const digits = mantissa.replace(".", "")
  const exponent = Number(exponentText)
  if (exponent >= -5 && exponent <= 15) {
    if (digits.length - 1 <= exponent) return `${sign}${digits.padEnd(exponent + 1, "0")}.0`
    if (exponent >= 0) return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`
    return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`
  }
  const shown = digits.length > 1 ? `${digits.slice(0, 1)}.${digits.slice(1)}` : digits
  return `${sign}${shown}e${exponent < 0 ? "-" : "+"}${Math.abs(exponent)}`
}

/**
 * Whether serde_json would have read this number as an integer (u64 or i64). JSON.parse keeps no lexical form, so
 * `1.0`, `1e2` and integers beyond 2^53 (already rounded) are best guesses: integral values in the i64/u64 range.
 */
const isSerdeInteger = (value: number): boolean =>
  Number.isInteger(value) && !Object.is(value, -0) && value >= -(2 ** 63) && value < 2 ** 64

/** serde's `Unexpected` rendering of a JSON value. */
export const describeUnexpected = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "boolean") return `boolean \`${value}\``
  if (typeof value === "number") {
    return isSerdeInteger(value) ? `integer \`${BigInt(value)}\`` : `floating point \`${formatFloat(value)}\``
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
    // serde derives accept a struct as a sequence of its fields in declaration order; a missing element takes the
    // field's `#[serde(default)]` or fails with its index, extra elements fail once the fields are read
    const positional = type.fields.filter((field) => field.extension !== true)
    const elements = (n: number) => (n === 1 ? "1 element" : `${n} elements`)
    for (const [index, field] of positional.entries()) {
      if (index >= value.length) {
        if ("defaultValue" in field) {
          out[field.key] = field.defaultValue
          continue
        }
        return Result.fail(`invalid length ${index}, expected struct ${type.name} with ${elements(positional.length)}`)
      }
      const decoded = decodeValue(field.type, value[index])
      if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
      out[field.key] = decoded.success
    }
    if (value.length > positional.length) {
      return Result.fail(`invalid length ${value.length}, expected ${elements(positional.length)} in sequence`)
    }
    for (const field of type.fields) {
      if (field.extension === true) out[field.key] = "defaultValue" in field ? field.defaultValue : null
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
      if (typeof value !== "number" || !isSerdeInteger(value)) return Result.fail(invalidType(value, type))
      return value >= 0 && value <= 0xffff_ffff
        ? Result.succeed(value)
        : Result.fail(`invalid value: ${describeUnexpected(value)}, expected u32`)
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
