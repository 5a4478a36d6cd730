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
const BACKSLASH = 92

export const isJsonArray = (value: Json | undefined): value is ReadonlyArray<Json> => Array.isArray(value)

export const isJsonObject = (value: Json | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** An own property of a parsed object (never one inherited from `Object.prototype`). */
export const field = (object: JsonObject, key: string): Json | undefined => (Object.hasOwn(object, key) ? object[key] : undefined)

/**
 * The `"` closing the string opened at `open` in valid JSON text (a quote after an odd run of backslashes is escaped);
 * -1 if there is none.
 */
const closingQuote = (text: string, open: number, escapes: boolean): number => {
  let close = text.indexOf("\"", open + 1)
  if (!escapes) return close
  while (close >= 0) {
    let before = close - 1
    while (text.charCodeAt(before) === BACKSLASH) before--
    if ((close - 1 - before) % 2 === 0) return close
    close = text.indexOf("\"", close + 1)
  }
  return close
}

/** a key followed by whitespace before its colon */
const SPACED_KEY = /"[ \t\n\r]+:/

/**
 * Number of keys written in valid JSON text: outside strings, every `:` ends a key. Strings and colons are found
 * with `indexOf`, without building anything: this runs once per manifest of a listing, in code not yet optimised.
 * Without a backslash every `"` delimits a string, so `":` (the usual spelling) can only end a key: then those are
 * counted, one step per key.
 */
const keyTokens = (text: string, escapes: boolean): number => {
  let count = 0
  if (!escapes && !SPACED_KEY.test(text)) {
    for (let at = text.indexOf("\":"); at >= 0; at = text.indexOf("\":", at + 2)) count++
    return count
  }
  let colon = text.indexOf(":")
  let open = text.indexOf("\"")
  while (colon >= 0) {
    if (open < 0 || colon < open) {
      count++
      colon = text.indexOf(":", colon + 1)
      continue
    }
    const close = closingQuote(text, open, escapes)
    // not valid JSON after all: let the exact reader decide
    if (close < 0) return -1
    const after = close + 1
    open = text.indexOf("\"", after)
    if (colon < after) colon = text.indexOf(":", after)
  }
  return count
}

/**
 * Number of distinct keys below `value`, or -1 when the value is too deep or holds a lone surrogate. Indexed loops
 * and `for...in`: in code that is not optimised yet, `for...of` allocates a result object per step.
 */
const distinctKeys = (value: Json, depth: number, surrogates: boolean): number => {
  if (typeof value === "string") return surrogates && LONE_SURROGATE.test(value) ? -1 : 0
  if (typeof value !== "object" || value === null) return 0
  if (depth >= MAX_DEPTH) return -1
  let count = 0
  if (isJsonArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i]
      const n = item === undefined ? 0 : distinctKeys(item, depth + 1, surrogates)
      if (n < 0) return -1
      count += n
    }
    return count
  }
  // `JSON.parse` makes plain objects: `for...in` sees exactly their own keys, `__proto__` included
  for (const key in value) {
    if (surrogates && LONE_SURROGATE.test(key)) return -1
    const item = value[key]
    const n = item === undefined ? 0 : distinctKeys(item, depth + 1, surrogates)
    if (n < 0) return -1
    count += n + 1
  }
  return count
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
  const escapes = text.includes("\\")
  const unicodeEscapes = escapes && text.includes("\\u")
  if (unicodeEscapes && LONE_SURROGATE.test(text)) return undefined
  const keys = distinctKeys(value, 0, unicodeEscapes)
  if (keys < 0 || keys !== keyTokens(text, escapes)) return undefined
  return { value }
}
