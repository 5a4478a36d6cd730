/**
 * A fast path in front of the serde_json emulation (`readJson` + `decodeSerde`). `JSON.parse` is trusted only when
 * `readJson` would accept the same text and `toPlain` would give the same value: no repeated key in any object (serde
 * rejects repeated struct fields), no lone surrogate escape (serde rejects them, `JSON.parse` does not) and nesting
 * below serde's recursion limit. Everything else is left to the exact emulation, which also phrases the errors.
 */

/** A value as `JSON.parse` (without reviver) builds it. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | JsonObject
export interface JsonObject {
  readonly [key: string]: Json
}

/** serde_json's recursion limit: a container nested this deep is an error. */
const MAX_DEPTH = 128
const LONE_SURROGATE = /[\uD800-\uDFFF]/u
/** every string token (valid JSON has no `"` outside strings) */
const STRING_TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"/g

export const isJsonArray = (value: Json | undefined): value is ReadonlyArray<Json> => Array.isArray(value)

export const isJsonObject = (value: Json | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** An own property of a parsed object (never one inherited from `Object.prototype`). */
export const field = (object: JsonObject, key: string): Json | undefined => (Object.hasOwn(object, key) ? object[key] : undefined)

/** Number of keys written in valid JSON text: outside strings, every `:` ends a key. */
const keyTokens = (text: string): number => {
  const bare = text.replace(STRING_TOKEN, "")
  let count = 0
  for (let at = bare.indexOf(":"); at >= 0; at = bare.indexOf(":", at + 1)) count++
  return count
}

/** Number of distinct keys below `value`, or -1 when the value is too deep or holds a lone surrogate. */
const distinctKeys = (value: Json, depth: number, surrogates: boolean): number => {
  if (typeof value === "string") return surrogates && LONE_SURROGATE.test(value) ? -1 : 0
  if (typeof value !== "object" || value === null) return 0
  if (depth >= MAX_DEPTH) return -1
  let count = 0
  if (isJsonArray(value)) {
    for (const item of value) {
      const n = distinctKeys(item, depth + 1, surrogates)
      if (n < 0) return -1
      count += n
    }
    return count
  }
  const keys = Object.keys(value)
  for (const key of keys) {
    if (surrogates && LONE_SURROGATE.test(key)) return -1
    const item = value[key]
    const n = item === undefined ? 0 : distinctKeys(item, depth + 1, surrogates)
    if (n < 0) return -1
    count += n
  }
  return count + keys.length
}

/**
 * `JSON.parse(text)` when serde_json (as `readJson` emulates it) reads exactly the same value without any complaint
 * of its own; undefined otherwise (a syntax error, a repeated key, a lone surrogate escape, too deep).
 */
export const parseJsonFast = (text: string): { readonly value: Json } | undefined => {
  let value: Json
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  // raw text is well-formed when it was strictly decoded; then only `\u` escapes can make a lone surrogate
  const escapes = text.includes("\\u")
  if (escapes && LONE_SURROGATE.test(text)) return undefined
  const keys = distinctKeys(value, 0, escapes)
  if (keys < 0 || keys !== keyTokens(text)) return undefined
  return { value }
}
