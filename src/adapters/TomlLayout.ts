import { Result } from "effect"

/** One key of a header or key/value path, as written in the file. */
export interface KeyPart {
  readonly name: string
  readonly raw: string
  /** whitespace between the preceding `.` and the key ("" for the first key) */
  readonly before: string
  /** whitespace between the key and the following `.` ("" for the last key) */
  readonly after: string
}

/** A logical line: a multi-line string or array belongs to the line of its key. */
export interface Line {
  readonly kind: "trivia" | "header" | "arrayHeader" | "keyval"
  readonly start: number
  readonly contentEnd: number
  readonly end: number
  readonly keys: ReadonlyArray<KeyPart>
  readonly valueStart: number
  readonly valueEnd: number
}

// module-level: a regular expression literal is a new object each time it is evaluated, and these run per character
const BARE_KEY_CHAR = /[A-Za-z0-9_-]/
const VALUE_END_CHAR = /[\s#,\]}]/
const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/
const DIGIT = /\d/

const isWs = (c: string | undefined) => c === " " || c === "\t"
const isBare = (c: string | undefined) => c !== undefined && BARE_KEY_CHAR.test(c)
const ESCAPES: Readonly<Record<string, string>> = {
  b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", e: "\x1b", "\"": "\"", "\\": "\\"
}
const decodeBasic = (body: string): string =>
  body.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)/g, (_, esc: string) =>
    esc.length > 1 ? String.fromCodePoint(parseInt(esc.slice(1), 16)) : (ESCAPES[esc] ?? esc))

/** Splits valid TOML into logical lines. Every function returns the index after what it read, or -1. */
export const scanLines = (s: string): Result.Result<ReadonlyArray<Line>, string> => {
  const skipWs = (i: number) => {
    while (isWs(s[i])) i++
    return i
  }
  const toEol = (i: number) => {
    while (i < s.length && s[i] !== "\n" && !(s[i] === "\r" && s[i + 1] === "\n")) i++
    return i
  }
  const skipString = (i: number): number => {
    const q = s[i] ?? ""
    const triple = q.repeat(3)
    if (s.startsWith(triple, i)) {
      for (let j = i + 3; j < s.length; j++) {
        if (q === "\"" && s[j] === "\\") j++
        else if (s.startsWith(triple, j)) {
          let k = j + 3
          while (s[k] === q && k - j < 5) k++
          return k
        }
      }
      return -1
    }
    for (let j = i + 1; j < s.length && s[j] !== "\n"; j++) {
      if (q === "\"" && s[j] === "\\") j++
      else if (s[j] === q) return j + 1
    }
    return -1
  }
  const skipNested = (i: number): number => {
    let depth = 0
    while (i < s.length) {
      const c = s[i]
      if (c === "\"" || c === "'") {
        i = skipString(i)
        if (i < 0) return -1
      } else if (c === "#") i = toEol(i)
      else if (c === "]" || c === "}") {
        i++
        if (--depth === 0) return i
      } else {
        if (c === "[" || c === "{") depth++
        i++
      }
    }
    return -1
  }
  const skipValue = (i: number): number => {
    const c = s[i]
    if (c === "\"" || c === "'") return skipString(i)
    if (c === "[" || c === "{") return skipNested(i)
    let j = i
    while (j < s.length && !VALUE_END_CHAR.test(s[j] ?? "")) j++
    // a local date followed by a space-separated time is a single value
    if (LOCAL_DATE.test(s.slice(i, j)) && s[j] === " " && DIGIT.test(s[j + 1] ?? "")) {
      j++
      while (j < s.length && !VALUE_END_CHAR.test(s[j] ?? "")) j++
    }
    return j > i ? j : -1
  }
  const readKeys = (i: number): { readonly keys: Array<KeyPart>; readonly end: number } | undefined => {
    const keys: Array<KeyPart> = []
    let before = ""
    for (;;) {
      const k0 = skipWs(i)
      if (keys.length > 0) before = s.slice(i, k0)
      const c = s[k0]
      let k1 = k0
      if (c === "\"" || c === "'") k1 = skipString(k0)
      else while (isBare(s[k1])) k1++
      if (k1 <= k0 || s.startsWith(c === "'" ? "'''" : "\"\"\"", k0)) return undefined
      const raw = s.slice(k0, k1)
      const name = c === "\"" ? decodeBasic(raw.slice(1, -1)) : c === "'" ? raw.slice(1, -1) : raw
      const k2 = skipWs(k1)
      if (s[k2] !== ".") {
        keys.push({ name, raw, before, after: "" })
        return { keys, end: k2 }
      }
      keys.push({ name, raw, before, after: s.slice(k1, k2) })
      i = k2 + 1
    }
  }

  const lines: Array<Line> = []
  let i = 0
  while (i < s.length) {
    const start = i
    let j = skipWs(start === 0 && s[0] === "\uFEFF" ? 1 : start)
    let kind: Line["kind"] = "trivia"
    let keys: ReadonlyArray<KeyPart> = []
    let valueStart = j
    let valueEnd = j
    if (s[j] === "[") {
      kind = s[j + 1] === "[" ? "arrayHeader" : "header"
      const path = readKeys(j + (kind === "header" ? 1 : 2))
      const close = kind === "header" ? "]" : "]]"
      if (path === undefined || !s.startsWith(close, path.end)) {
        return Result.fail(`malformed table header at offset ${j}`)
      }
      keys = path.keys
      j = skipWs(path.end + close.length)
    } else if (j < s.length && s[j] !== "#" && s[j] !== "\n" && s[j] !== "\r") {
      kind = "keyval"
      const path = readKeys(j)
      if (path === undefined || s[path.end] !== "=") return Result.fail(`malformed key at offset ${j}`)
      keys = path.keys
      valueStart = skipWs(path.end + 1)
      valueEnd = skipValue(valueStart)
      if (valueEnd < 0) return Result.fail(`unterminated value at offset ${valueStart}`)
      j = skipWs(valueEnd)
    }
    if (s[j] === "#") j = toEol(j)
    if (toEol(j) !== j) return Result.fail(`unexpected text at offset ${j}`)
    const end = s[j] === "\r" ? j + 2 : j < s.length ? j + 1 : j
    lines.push({ kind, start, contentEnd: j, end, keys, valueStart, valueEnd })
    i = end
  }
  return Result.succeed(lines)
}

/** A `[table]` (or the root) as toml_edit prints it: leading comments/blank lines, header, key/value lines. */
export interface Block {
  readonly position: number
  readonly prefixStart: number
  readonly header: Line | undefined
  readonly keyvals: Array<{ readonly line: Line; readonly prefixStart: number }>
  bodyEnd: number
}

/** toml_edit's table tree: child order plus header positions decide where it prints a new table. */
export interface TableNode {
  kind: "root" | "table" | "implicit" | "dotted" | "value" | "array"
  position: number | undefined
  key: KeyPart | undefined
  block: Block | undefined
  readonly children: Map<string, TableNode>
  readonly elements: Array<TableNode>
}

export interface Layout {
  readonly root: TableNode
  /** indexed by position; 0 is the root */
  readonly blocks: ReadonlyArray<Block>
  readonly eol: string
}

export const makeNode = (kind: TableNode["kind"], key: KeyPart | undefined): TableNode => ({
  kind, position: undefined, key, block: undefined, children: new Map(), elements: []
})

const descend = (from: TableNode, keys: ReadonlyArray<KeyPart>, kind: "implicit" | "dotted") => {
  let node: TableNode | undefined = from
  for (const key of keys) {
    let child: TableNode | undefined = node.children.get(key.name)
    if (child === undefined) {
      child = makeNode(kind, key)
      node.children.set(key.name, child)
    }
    node = child.kind === "array" ? child.elements.at(-1) : child
    if (node === undefined || node.kind === "value") return undefined
  }
  return node
}

/** Mirrors toml_edit's parser: a `[header]` moves its (implicit) table to the end of its parent. */
export const scanLayout = (text: string): Result.Result<Layout, string> =>
  Result.flatMap(scanLines(text), (lines) => layoutOf(text, lines))

/** `scanLayout` from the lines `scanLines` found in `text`. */
export const layoutOf = (text: string, lines: ReadonlyArray<Line>): Result.Result<Layout, string> => {
  const rootBlock: Block = { position: 0, prefixStart: 0, header: undefined, keyvals: [], bodyEnd: 0 }
  const root: TableNode = { ...makeNode("root", undefined), position: 0, block: rootBlock }
  const blocks: Array<Block> = [rootBlock]
  let current = root
  let lastEnd = 0
  for (const line of lines) {
    const last = line.keys.at(-1)
    if (line.kind === "trivia" || last === undefined) continue
    const parent = line.kind === "keyval"
      ? descend(current, line.keys.slice(0, -1), "dotted")
      : descend(root, line.keys.slice(0, -1), "implicit")
    const existing = parent?.children.get(last.name)
    if (parent === undefined) return Result.fail(`cannot place \`${last.raw}\` at offset ${line.start}`)
    if (line.kind === "keyval") {
      if (existing !== undefined) return Result.fail(`duplicate key \`${last.raw}\` at offset ${line.start}`)
      parent.children.set(last.name, makeNode("value", last))
      current.block?.keyvals.push({ line, prefixStart: lastEnd })
      if (current.block !== undefined) current.block.bodyEnd = line.end
    } else {
      const block: Block = {
        position: blocks.length, prefixStart: lastEnd, header: line, keyvals: [], bodyEnd: line.end
      }
      blocks.push(block)
      let node = makeNode("table", last)
      if (line.kind === "header") {
        if (existing !== undefined && existing.kind !== "implicit") {
          return Result.fail(`table \`${last.raw}\` defined twice at offset ${line.start}`)
        }
        node = existing ?? node
        node.kind = "table"
        node.key = last
        parent.children.delete(last.name)
        parent.children.set(last.name, node)
      } else {
        const array = existing ?? makeNode("array", last)
        if (array.kind !== "array") return Result.fail(`\`${last.raw}\` is not an array of tables`)
        parent.children.set(last.name, array)
        array.elements.push(node)
      }
      node.position = block.position
      node.block = block
      current = node
    }
    lastEnd = line.end
  }
  return Result.succeed({ root, blocks, eol: /\r?\n/.exec(text)?.[0] ?? "\n" })
}
