import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { type Line, scanLines } from "../../src/adapters/TomlLayout.ts"
import { applySplices, splicedLines, type TomlSplice } from "../../src/adapters/TomlSplice.ts"
import { scaled, seedFor } from "../support/Soak.ts"
import { tomlLayouts } from "../support/TomlLayouts.ts"

const RUNS = scaled(1_500, 50_000)

const scanned = (text: string): ReadonlyArray<Line> => {
  const lines = scanLines(text)
  return Result.isSuccess(lines) ? lines.success : assert.fail(`cannot scan ${JSON.stringify(text)}: ${lines.failure}`)
}

// whole lines (the edits' own kind) and a few that are not: a line without its break, a string left open
const TEXTS = [
  "",
  "\n[plugins.\"sample@debug\"]\nenabled = true\n",
  "[plugins.\"x@y\"]\r\nenabled = false\r\n",
  "enabled = false\n",
  "# c\n\n",
  "a = \"\"\"\n[t]\n\"\"\"\n",
  "\n",
  "enabled = true",
  "s = \"\"\"\n",
  "\uFEFF# bom\n"
] as const

/** Up to three splices, each starting and ending at a line boundary of `text` or, sometimes, anywhere. */
const splicesOf = (text: string): fc.Arbitrary<ReadonlyArray<TomlSplice>> => {
  const boundaries = [...scanned(text).map((line) => line.start), text.length]
  const position = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...boundaries) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: text.length }) }
  )
  return fc.array(fc.tuple(position, position, fc.constantFrom(...TEXTS)), { maxLength: 3 }).map((picks) => {
    const sorted = picks.map(([a, b, t]) => ({ start: Math.min(a, b), end: Math.max(a, b), text: t }))
      .sort((a, b) => a.start - b.start || a.end - b.end)
    // the edits never overlap: keep the splices that do not
    const kept: Array<TomlSplice> = []
    for (const s of sorted) if (kept.every((k) => k.end <= s.start || (k.start === k.end && k.end === s.start))) kept.push(s)
    return kept
  })
}

describe("splicedLines", () => {
  it("property: the lines carried over a splice are the lines a scan of the result finds", () => {
    let carried = 0
    fc.assert(
      fc.property(tomlLayouts.chain((text) => fc.tuple(fc.constant(text), splicesOf(text))), ([text, splices]) => {
        const next = applySplices(text, splices)
        const lines = splicedLines(text, scanned(text), splices, next)
        if (lines === undefined) return
        carried++
        const rescanned = scanLines(next)
        assert.isTrue(Result.isSuccess(rescanned), `${JSON.stringify(next)} does not scan, but lines were carried over`)
        if (Result.isSuccess(rescanned)) assert.deepStrictEqual(lines, rescanned.success)
      }),
      { seed: seedFor("TomlSplice"), numRuns: RUNS }
    )
    // most splices of the kind the edits make are carried over, not left to a scan
    assert.isAbove(carried, RUNS * 0.4)
  })

  it("carries over an insertion between tables and a table's removal", () => {
    const text = "[features]\nplugins = true\n\n[plugins.\"a@m\"]\nenabled = true\n\n[tui]\nx = 1\n"
    const lines = scanned(text)
    const tableEnd = text.indexOf("\n[tui]")
    const insertion = [{ start: tableEnd, end: tableEnd, text: "\n[plugins.\"b@m\"]\nenabled = true\n" }]
    const inserted = applySplices(text, insertion)
    assert.deepStrictEqual(splicedLines(text, lines, insertion, inserted), scanned(inserted))
    const removal = [{ start: text.indexOf("\n[plugins"), end: tableEnd, text: "" }]
    const removed = applySplices(text, removal)
    assert.strictEqual(removed, "[features]\nplugins = true\n\n[tui]\nx = 1\n")
    assert.deepStrictEqual(splicedLines(text, lines, removal, removed), scanned(removed))
  })

  it("leaves to a scan a splice inside a line, text after a last line without its break, and a byte-order mark", () => {
    const text = "a = 1\nb = 2"
    const lines = scanned(text)
    const inside = [{ start: 2, end: 2, text: "x\n" }]
    assert.isUndefined(splicedLines(text, lines, inside, applySplices(text, inside)))
    const after = [{ start: text.length, end: text.length, text: "c = 3\n" }]
    assert.isUndefined(splicedLines(text, lines, after, applySplices(text, after)))
    const partial = [{ start: 6, end: 6, text: "c = 3" }]
    assert.isUndefined(splicedLines(text, lines, partial, applySplices(text, partial)))
    const bom = "\uFEFFa = 1\n"
    const atStart = [{ start: 0, end: 0, text: "b = 2\n" }]
    assert.isUndefined(splicedLines(bom, scanned(bom), atStart, applySplices(bom, atStart)))
  })
})
