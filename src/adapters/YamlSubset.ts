import { Result } from "effect"
import { trimWhitespace } from "../domain/Manifest.ts"

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
export const objectOf = (entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> => {
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

/** serde_yaml's nesting limit; deeper documents fail instead of exhausting the stack. */
const MAX_DEPTH = 128

/** Parses a YAML document into plain values (strings, null, arrays, objects); fails with a message. */
export const parseYaml = (text: string): Result.Result<unknown, string> => {
  try {
    return Result.succeed(parseDocument(text))
  } catch (error) {
    if (error instanceof YamlError) return Result.fail(error.message)
    throw error
  }
}

/** Throws YamlError for anything it cannot read (a tab in the indentation too: that check runs here, in the try). */
const parseDocument = (text: string): unknown => {
  const lines: Array<Line> = text.split(/\r?\n/).map((raw) => {
    const indent = raw.length - raw.replace(/^ +/, "").length
    if (raw.charAt(indent) === "\t" && raw.trim().length > 0) yamlFail("found a tab character that violates indentation")
    return { indent, text: raw.slice(indent).trimEnd() }
  })
  let depth = 0
  /** One level of nesting (a block or flow collection), counted against MAX_DEPTH. */
  const nested = <A>(f: () => A): A => {
    if (++depth > MAX_DEPTH) yamlFail("recursion limit exceeded")
    try {
      return f()
    } finally {
      depth--
    }
  }
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
    /** A flow sequence or mapping; `j` is at its opening bracket. */
    const collection = (seq: boolean): unknown => {
      j++
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
    const item = (): unknown => {
      ws()
      const c = source.charAt(j)
      if (c === "[" || c === "{") return nested(() => collection(c === "["))
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
  const mapping = (indent: number): Record<string, unknown> => nested(() => mappingAt(indent))
  const mappingAt = (indent: number): Record<string, unknown> => {
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
  const sequence = (indent: number): Array<unknown> => nested(() => sequenceAt(indent))
  const sequenceAt = (indent: number): Array<unknown> => {
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
  skipBlank()
  if (current()?.text === "---") i++
  const doc = node(0)
  skipBlank()
  if (i < lines.length && current()?.text !== "...") yamlFail("did not find expected <document start>")
  return doc
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
