import { Result } from "effect"

// JSON text with positions. codex reads marketplace.json / plugin.json with serde_json, whose error texts carry
// `at line L column C` (C counts UTF-8 bytes). This reader reproduces serde_json's syntax errors and keeps every
// value's offsets so that schema failures can be reported at the position serde would use.

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
