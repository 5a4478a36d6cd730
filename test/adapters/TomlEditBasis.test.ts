import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import {
  type ConfigTomlError,
  prepareNextEdit,
  removePluginTable,
  replacePluginTable,
  setPluginEnabled
} from "../../src/adapters/ConfigToml.ts"
import { type EditBasis, editBasisOf } from "../../src/adapters/TomlEditBasis.ts"
import { type Layout, scanLayout, scanLines } from "../../src/adapters/TomlLayout.ts"
import { scaled, seedFor } from "../support/Soak.ts"
import { editOutcome, runTomlEdit, tomlEdits, tomlLayouts } from "../support/TomlLayouts.ts"

const ok = <A>(result: Result.Result<A, ConfigTomlError>): A =>
  Result.isSuccess(result) ? result.success : assert.fail(`${result.failure.reason}: ${result.failure.message}`)
const basis = (text: string): EditBasis => {
  const found = editBasisOf(text)
  return Result.isSuccess(found) ? found.success : assert.fail(`no basis for ${JSON.stringify(text)}: ${found.failure}`)
}
/** the lines and layout of `text` from a scan of it alone */
const scanned = (text: string): { readonly lines: unknown; readonly layout: Layout } => {
  const lines = scanLines(text)
  const layout = scanLayout(text)
  if (Result.isFailure(lines) || Result.isFailure(layout)) return assert.fail(`cannot scan ${JSON.stringify(text)}`)
  return { lines: lines.success, layout: layout.success }
}
/** what was worked out ahead is dropped: the last edit is of another text, and its product is worked out instead */
const forget = () => {
  ok(replacePluginTable("[tui]\nx = 1\n", "other@x", true))
  prepareNextEdit()
}

const BASE = "[features]\nplugins = true\n\n[plugins.\"x@y\"]\nenabled = true\n\n" +
  "[plugins.\"x@y\".mcp_servers.s]\nenabled = false\n"

describe("the basis of the next edit, worked out ahead", () => {
  it("is what a scan of the text finds, and is handed to one edit only", () => {
    forget()
    const produced = ok(setPluginEnabled(BASE, "x@y", false))
    prepareNextEdit()
    prepareNextEdit()
    const first = basis(produced)
    const second = basis(produced)
    assert.deepStrictEqual(first, scanned(produced))
    assert.deepStrictEqual(second, scanned(produced))
    assert.notStrictEqual(first.layout, second.layout)
  })

  it("is not given to the edit of a text changed by hand in between, even to one of the same length", () => {
    forget()
    const produced = ok(replacePluginTable(BASE, "a@m", true))
    prepareNextEdit()
    const byHand = produced.replace("[plugins.\"a@m\"]", "[plugins.\"b@m\"]")
    assert.strictEqual(byHand.length, produced.length)
    assert.notStrictEqual(byHand, produced)
    assert.deepStrictEqual(basis(byHand), scanned(byHand))
    assert.strictEqual(ok(removePluginTable(byHand, "b@m")), BASE)
    // still there for the text it was worked out for
    assert.deepStrictEqual(basis(produced), scanned(produced))
  })

  it("leaves nothing to a second edit of the same text once one edit planned on it", () => {
    forget()
    const produced = ok(setPluginEnabled(BASE, "x@y", false))
    prepareNextEdit()
    // the replace drops the sub-table from the layout's tree as it plans: the removal must see it again
    assert.strictEqual(
      ok(replacePluginTable(produced, "x@y", true)),
      "[features]\nplugins = true\n\n[plugins.\"x@y\"]\nenabled = true\n"
    )
    assert.strictEqual(ok(removePluginTable(produced, "x@y")), "[features]\nplugins = true\n")
  })
})

describe("property: edits with the basis worked out ahead", () => {
  const run = runTomlEdit
  const outcome = editOutcome
  const edit = tomlEdits
  // a hand edit between two edits: none, the same text again (a copy), or one byte changed (same length)
  const handEdit = fc.constantFrom("none", "copy", "byte")
  const byHand = (text: string, kind: string): string =>
    kind === "copy"
      ? [...text].join("")
      : kind === "byte"
      ? text.replace("true", "1234")
      : text

  it("give what a cold edit of the same text gives, whatever happened to the text in between", () => {
    fc.assert(
      fc.property(tomlLayouts, edit, edit, edit, handEdit, (base, first, second, third, hand) => {
        forget()
        const produced = run(base, first)
        if (Result.isFailure(produced)) return
        prepareNextEdit()
        const text = byHand(produced.success, hand)
        const warm = [outcome(run(text, second)), outcome(run(text, third))]
        forget()
        const cold = [outcome(run(text, second))]
        forget()
        cold.push(outcome(run(text, third)))
        assert.deepStrictEqual(warm, cold)
      }),
      { seed: seedFor("TomlEditBasis ahead"), numRuns: scaled(1_000, 30_000) }
    )
  })
})
