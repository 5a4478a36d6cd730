import { Result } from "effect"
import { type Layout, layoutOf, type Line, scanLines } from "./TomlLayout.ts"
import { splicedLines, type TomlSplice } from "./TomlSplice.ts"

/** What an edit needs to know of the text it edits before it plans its splices: a pure function of the text. */
export interface EditBasis {
  readonly lines: ReadonlyArray<Line>
  /** handed to one edit only: planning an edit changes its tree (see `editBasisOf`) */
  readonly layout: Layout
}

/**
 * The lines of the last texts edited and produced. The next edit is usually of the text the last one produced (its
 * projection writes it, the next command reads it): its lines are carried over from those of the text it was made
 * from (`splicedLines`, when the edit allows it), so config.toml is not scanned whole again for every edit.
 */
let knownLines: ReadonlyArray<{ readonly text: string; readonly lines: () => ReadonlyArray<Line> | undefined }> = []

/**
 * The basis of one text, worked out ahead (`prepareNextBasis`, when the process is idle) for the edit that comes
 * next. Keyed by the whole text (compared in full: a text changed by hand in between, even to one of the same
 * length, misses and is worked out again), and taken by the first edit of that text, never shared: the edit's plan
 * adds the plugin's table to the layout's tree and moves it, so a second edit must not start from that tree.
 */
let ahead: { readonly text: string; readonly basis: Result.Result<EditBasis, string> } | undefined

const linesOf = (text: string): Result.Result<ReadonlyArray<Line>, string> => {
  const carried = knownLines.find((known) => known.text === text)?.lines()
  return carried === undefined ? scanLines(text) : Result.succeed(carried)
}

const basisUncached = (text: string): Result.Result<EditBasis, string> =>
  Result.flatMap(linesOf(text), (lines) => Result.map(layoutOf(text, lines), (layout) => ({ lines, layout })))

/**
 * The lines and a fresh layout of `text` (a failure says why `text` cannot be scanned): the ones worked out ahead if
 * they are of this very text, else worked out now (from lines carried over, if known).
 */
export const editBasisOf = (text: string): Result.Result<EditBasis, string> => {
  const prepared = ahead
  if (prepared !== undefined && prepared.text === text) {
    ahead = undefined
    return prepared.basis
  }
  return basisUncached(text)
}

/** `lines` of `text` and, carried over when first asked for, those of `next` (made from it by `splices`). */
export const rememberEdit = (
  text: string,
  lines: ReadonlyArray<Line>,
  splices: ReadonlyArray<TomlSplice>,
  next: string
): void => {
  let carried: { readonly lines: ReadonlyArray<Line> | undefined } | undefined
  const nextLines = () => {
    carried ??= { lines: splicedLines(text, lines, splices, next) }
    return carried.lines
  }
  knownLines = [{ text: next, lines: nextLines }, { text, lines: () => lines }]
}

/**
 * Works out the basis of the text the last edit produced, for the next edit to take: the lines carried over and the
 * layout, about as much CPU as the rest of an edit on a config.toml of 100 plugins, spent when nothing waits for it
 * (after a projection has settled) instead of on the next command's critical path. Nothing when it is already
 * there or no edit was made. It can only miss: an edit of another text works its own out.
 */
export const prepareNextBasis = (): void => {
  const produced = knownLines[0]
  if (produced === undefined || ahead?.text === produced.text) return
  ahead = { text: produced.text, basis: basisUncached(produced.text) }
}
