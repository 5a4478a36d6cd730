/**
 * Call-site attribution for FaultFs: which code of the project made a file-system call, named so that the names
 * survive edits that only move lines.
 */
import * as NodeFs from "node:fs"

/** FaultFs, this file, and the pass-through wrapper every ledger fs call goes through: none is a call site. */
const THIS_FILE = /[\\/](test[\\/]support[\\/](?:FaultFs|CallSite)|src[\\/]adapters[\\/]StopOnFsyncFailure)\.ts/
const FRAME = /^\s*at (?:.+? \()?(?:file:\/\/)?(.+?):(\d+):\d+\)?$/
/** Generic wrappers that say nothing about the call site: the attribution looks past them. */
const WRAPPERS = new Set(["attempt", "io", "runSync", "sync", "ignoreMissing"])

/**
 * Where an op comes from: the first two functions of the project on the stack outside FaultFs, each named by its
 * file and the innermost declaration enclosing the frame's line (`src/adapters/AtomicFile.ts:writeAll <
 * src/adapters/TreeStaging.ts:buildStaging`). Names come from the source, not from V8 (which has none for the
 * callbacks an Effect runs), so they survive edits that only move lines.
 */
export const callSite = (): string => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 60
  const stack = new Error().stack ?? ""
  Error.stackTraceLimit = limit
  const names: Array<string> = []
  for (const line of stack.split("\n").slice(1)) {
    const m = FRAME.exec(line)
    if (m === null) continue
    const path = m[1] ?? ""
    if (THIS_FILE.test(path) || !/[\\/](src|test)[\\/]/.test(path) || path.includes("node_modules")) continue
    const name = `${relativeToRepo(path)}:${enclosingDeclaration(path, Number(m[2]))}`
    if (WRAPPERS.has(name.slice(name.lastIndexOf(":") + 1)) || names.at(-1) === name) continue
    names.push(name)
    if (names.length === 2) break
  }
  return names.length === 0 ? "?" : names.join(" < ")
}

const sources = new Map<string, ReadonlyArray<string>>()
const DECLARATION = [
  /^(\s*)(?:export\s+)?(?:const|let)\s+(\w+)\s*[:=]/,
  /^(\s*)(?:export\s+)?(?:async\s+)?function\*?\s*(\w+)/,
  /^(\s*)(?:readonly\s+)?(\w+)\s*(?::\s*)?(?:=\s*)?(?:async\s*)?\([^)]*\)(?::[^=]+)?\s*=>/,
  /^(\s*)(?:readonly\s+)?(\w+)\s*=\s*\(/
]

/** The name of the innermost declaration (const, function, method) enclosing line `line` of `path`. */
const enclosingDeclaration = (path: string, line: number): string => {
  let lines = sources.get(path)
  if (lines === undefined) {
    try {
      lines = NodeFs.readFileSync(path, "utf8").split("\n")
    } catch {
      lines = []
    }
    sources.set(path, lines)
  }
  const at = lines[line - 1] ?? ""
  // a one-line function: `const isFile = (fs, path) => ...`
  const own = /^\s*(?:export\s+)?(?:const|let)\s+(\w+)\s*(?::[^=]+)?=\s*(?:async\s*)?(?:\(|function|Effect\.fn)/.exec(at)
  if (own?.[1] !== undefined) return own[1]
  let indent = at.length - at.trimStart().length
  for (let i = line - 2; i >= 0 && indent > 0; i--) {
    const text = lines[i] ?? ""
    if (text.trim() === "") continue
    const own = text.length - text.trimStart().length
    // the end of a multi-line parameter list or block does not enclose anything
    if (own >= indent || /^\s*[)}\]]/.test(text)) continue
    for (const pattern of DECLARATION) {
      const m = pattern.exec(text)
      if (m?.[2] !== undefined) return m[2]
    }
    indent = own
  }
  return "<top>"
}

const relativeToRepo = (path: string): string => {
  const at = path.search(/[\\/](src|test)[\\/]/)
  return at < 0 ? path : path.slice(at + 1).replaceAll("\\", "/")
}
