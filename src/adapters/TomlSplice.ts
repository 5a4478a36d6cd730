import { Result } from "effect"
import { type Line, scanLines } from "./TomlLayout.ts"

/** `text` replaces `start..end` of the original. */
export interface TomlSplice {
  readonly start: number
  readonly end: number
  readonly text: string
}

const byPosition = (a: TomlSplice, b: TomlSplice) => a.start - b.start || a.end - b.end

export const applySplices = (text: string, splices: ReadonlyArray<TomlSplice>): string => {
  const sorted = [...splices].sort(byPosition)
  let out = ""
  let cursor = 0
  for (const s of sorted) {
    out += text.slice(cursor, s.start) + s.text
    cursor = s.end
  }
  return out + text.slice(cursor)
}

const BOM = 0xfeff
const NEWLINE = 0x0a

const moved = (line: Line, by: number): Line =>
  by === 0 ? line : {
    ...line,
    start: line.start + by,
    contentEnd: line.contentEnd + by,
    end: line.end + by,
    valueStart: line.valueStart + by,
    valueEnd: line.valueEnd + by
  }

/**
 * The lines `scanLines` finds in `next` (`text` with `splices` applied), from `lines` (those of `text`) without
 * scanning it all again: only the splices' texts are scanned. `scanLines` reads a line from its first character
 * on and never before it, so a line of `text` reads the same wherever it is moved, and a splice's text scanned on
 * its own reads as it does in place, as long as every splice starts and ends where a line starts (or at the end),
 * its text is whole lines and none lands right after a line without its line break (the last one of `text` may
 * lack it). Undefined when that is not so (or a byte-order mark is involved, which only the first line may start
 * with): the caller scans `next` itself.
 */
export const splicedLines = (
  text: string,
  lines: ReadonlyArray<Line>,
  splices: ReadonlyArray<TomlSplice>,
  next: string
): ReadonlyArray<Line> | undefined => {
  if (text.charCodeAt(0) === BOM || next.charCodeAt(0) === BOM) return undefined
  let out: Array<Line> = []
  // `index`: the first line of `text` not passed yet; `shift`: how far lines of `text` move in `next`
  let index = 0
  let cursor = 0
  let shift = 0
  /** the index of the first line from `index` on that starts at or after `to` (lines are in order: halving) */
  const firstFrom = (to: number): number => {
    let low = index
    let high = lines.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((lines[middle]?.start ?? to) < to) low = middle + 1
      else high = middle
    }
    return low
  }
  /** true if `to` is where the line at `index` starts, or the end of `text` */
  const atBoundary = (to: number): boolean => to === text.length || lines[index]?.start === to
  /** copies the lines of `text` before `to` (unmoved ones in one slice: usually most of the file) */
  const copyTo = (to: number): boolean => {
    const until = firstFrom(to)
    const copied = lines.slice(index, until)
    out = out.concat(shift === 0 ? copied : copied.map((line) => moved(line, shift)))
    index = until
    return atBoundary(to)
  }
  /** passes over the lines of `text` before `to` */
  const skipTo = (to: number): boolean => {
    index = firstFrom(to)
    return atBoundary(to)
  }
  for (const splice of [...splices].sort(byPosition)) {
    if (splice.start < cursor || !copyTo(splice.start)) return undefined
    if (splice.text !== "") {
      // text after a line without its line break (the last of `text`) would be read as part of that line
      const previous = out.at(-1)
      if (previous !== undefined && previous.end === previous.contentEnd) return undefined
      if (splice.text.charCodeAt(0) === BOM || splice.text.charCodeAt(splice.text.length - 1) !== NEWLINE) return undefined
      const scanned = scanLines(splice.text)
      if (Result.isFailure(scanned)) return undefined
      const at = splice.start + shift
      for (const line of scanned.success) out.push(moved(line, at))
    }
    if (!skipTo(splice.end)) return undefined
    shift += splice.text.length - (splice.end - splice.start)
    cursor = splice.end
  }
  if (!copyTo(text.length)) return undefined
  return out
}
