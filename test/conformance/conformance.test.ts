/**
 * Differential conformance suite: every scenario runs against the reference (`codex app-server`,
 * @openai/codex 0.116.0) and against ours (`src/cli/main.ts serve`), each in fresh temp dirs, and
 * the raw response lines, the plugin cache tree and the config.toml bytes must be identical
 * (paths normalised to `<ROOT>`), except for the deliberate deviations each scenario declares.
 *
 * `CONFORMANCE_TARGET=reference` runs only the reference: it checks each scenario's expectations
 * (taken from the mapped codex-conformance.json case) and records the output under
 * `test/conformance/recorded/`.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  type Deviation,
  errorOf,
  initializeShape,
  parseObject,
  pruneRecords,
  type RunResult,
  runScenario,
  runToJson,
  type Scenario,
  UNKNOWN_METHOD_MARK,
  withoutResultKey,
  writeRecord
} from "./harness.ts"
import { scenarios } from "./scenarios.ts"

const referenceOnly = process.env["CONFORMANCE_TARGET"] === "reference"
const SCENARIO_TIMEOUT_MS = 60_000

const visible = (line: string): string => line.replaceAll("\r", "\u240d").replaceAll("\t", "\u2409")

/** Shows where two texts differ: the first `max` differing lines (compared by position), each with its column. */
const firstDifference = (expected: string, actual: string, max = 1): string => {
  const a = expected.split("\n")
  const b = actual.split("\n")
  const out: Array<string> = []
  for (let i = 0; i < Math.max(a.length, b.length) && out.length < max; i++) {
    const x = a[i]
    const y = b[i]
    if (x !== y) {
      let col = 0
      if (x !== undefined && y !== undefined) {
        while (col < x.length && col < y.length && x[col] === y[col]) col++
      }
      const from = Math.max(0, col - 60)
      const show = (l: string | undefined) => (l === undefined ? "<none>" : (from > 0 ? "…" : "") + visible(l.slice(from, col + 200)))
      out.push(`line ${i + 1}, column ${col + 1}:\n    reference: ${show(x)}\n    ours:      ${show(y)}`)
    }
  }
  return out.length === 0 ? "identical" : out.join("\n  ")
}

const checkReferenceExpectations = (scenario: Scenario, ref: RunResult): Array<string> => {
  const problems: Array<string> = []
  for (const check of scenario.expect ?? []) {
    const step = ref.steps.find((s) => s.step === check.step)
    if (step === undefined) {
      problems.push(`expectation for step ${check.step}: no such request step`)
      continue
    }
    const error = errorOf(step.line)
    if (check.error !== undefined) {
      if (error === undefined) {
        problems.push(`step ${check.step}: expected error ${check.error.code}, got ${step.line}`)
      } else {
        if (error.code !== check.error.code) problems.push(`step ${check.step}: expected code ${check.error.code}, got ${String(error.code)}`)
        for (const part of check.error.messageIncludes ?? []) {
          if (!error.message.includes(part)) problems.push(`step ${check.step}: message ${JSON.stringify(error.message)} lacks ${JSON.stringify(part)}`)
        }
      }
    } else if (error !== undefined && (check.resultIncludes !== undefined || check.resultExcludes !== undefined)) {
      problems.push(`step ${check.step}: expected a result, got ${step.line}`)
    }
    for (const part of check.resultIncludes ?? []) {
      if (!step.line.includes(part)) problems.push(`step ${check.step}: response lacks ${part}\n    ${step.line}`)
    }
    for (const part of check.resultExcludes ?? []) {
      if (step.line.includes(part)) problems.push(`step ${check.step}: response unexpectedly contains ${part}\n    ${step.line}`)
    }
  }
  const files = scenario.expectFiles
  if (files !== undefined) {
    const present = new Set(
      ref.files
        .split("\n")
        .filter((l) => /^(dir|file|symlink) /.test(l))
        .map((l) => l.split(" ")[1] ?? "")
    )
    for (const p of files.exists ?? []) if (!present.has(p)) problems.push(`expected path to exist: ${p}`)
    for (const p of files.absent ?? []) if (present.has(p)) problems.push(`expected path to be absent: ${p}`)
    for (const part of files.configIncludes ?? []) {
      if (!(ref.config ?? "").includes(part)) problems.push(`config.toml lacks ${JSON.stringify(part)}; config: ${JSON.stringify(ref.config)}`)
    }
    for (const part of files.configExcludes ?? []) {
      if ((ref.config ?? "").includes(part)) problems.push(`config.toml unexpectedly contains ${JSON.stringify(part)}`)
    }
  }
  return problems
}

const MARKETPLACE_ERROR = /^invalid marketplace file `([^`]*)`: /

const compareDeviation = (
  deviation: Deviation,
  refLine: string,
  oursLine: string,
  control: RunResult | undefined
): Array<string> => {
  const problems: Array<string> = []
  switch (deviation.kind) {
    case "marketplaceLoadErrors": {
      const refError = errorOf(refLine)
      const match = refError === undefined ? null : MARKETPLACE_ERROR.exec(refError.message)
      if (refError === undefined || refError.code !== -32600 || match === null) {
        return [`deviation is stale: the reference no longer fails with -32600 invalid marketplace file: ${refLine}`]
      }
      const controlLine = control?.steps.find((s) => s.step === deviation.step)?.line
      if (controlLine === undefined) return ["internal: control run missing"]
      // both sides re-serialised by JSON.stringify, so only content and key order count here
      const { removed, rest } = withoutResultKey(oursLine, "marketplaceLoadErrors")
      const expectedRest = JSON.stringify(parseObject(controlLine))
      if (rest !== expectedRest) {
        problems.push(
          "ours (without marketplaceLoadErrors) differs from the reference's listing without the bad file: " +
            firstDifference(expectedRest, rest)
        )
      }
      const expected = JSON.stringify([{ marketplacePath: match[1], message: refError.message }])
      const actual = JSON.stringify(removed)
      if (actual !== expected) {
        problems.push(`marketplaceLoadErrors: ${firstDifference(expected, actual ?? "<missing>")}`)
      }
      return problems
    }
    case "unknownMethodList": {
      const cut = (line: string): string | undefined => {
        const e = errorOf(line)
        if (e === undefined) return undefined
        const at = e.message.indexOf(UNKNOWN_METHOD_MARK)
        if (at < 0) return undefined
        return line.replace(JSON.stringify(e.message), JSON.stringify(e.message.slice(0, at + UNKNOWN_METHOD_MARK.length)))
      }
      const r = cut(refLine)
      if (r === undefined) return [`deviation is stale: reference answered ${refLine}`]
      const o = cut(oursLine)
      if (o === undefined) return [`ours is not an unknown-variant error: ${oursLine}`]
      if (r !== o) problems.push(`unknown method error up to "${UNKNOWN_METHOD_MARK}": ${firstDifference(r, o)}`)
      return problems
    }
  }
}

const compareRuns = (scenario: Scenario, ref: RunResult, ours: RunResult, control: RunResult | undefined): Array<string> => {
  const problems: Array<string> = []
  const deviations = new Map((scenario.deviations ?? []).map((d) => [d.step, d]))
  if (ref.handshake !== undefined && ours.handshake !== undefined) {
    const a = initializeShape(ref.handshake)
    const b = initializeShape(ours.handshake)
    if (a !== b) problems.push(`handshake initialize result keys differ: ${firstDifference(a, b)}`)
  }
  if (ref.steps.length !== ours.steps.length) {
    problems.push(`step count differs: reference ${ref.steps.length}, ours ${ours.steps.length}`)
  }
  for (const [i, r] of ref.steps.entries()) {
    const o = ours.steps[i]
    if (o === undefined) continue
    const label = `step ${r.step} (${r.description})`
    const deviation = deviations.get(r.step)
    if (deviation !== undefined) {
      for (const p of compareDeviation(deviation, r.line, o.line, control)) problems.push(`${label} [deviation ${deviation.kind}]: ${p}`)
    } else if (r.isInitialize && errorOf(r.line) === undefined) {
      const a = initializeShape(r.line)
      const b = initializeShape(o.line)
      if (a !== b) problems.push(`${label}: initialize result keys differ: ${firstDifference(a, b)}`)
    } else if (r.line !== o.line) {
      problems.push(`${label}: response differs at ${firstDifference(r.line, o.line)}`)
    }
    if (r.snapshot !== undefined && r.snapshot !== o.snapshot) {
      problems.push(`${label}: files after this step differ at ${firstDifference(r.snapshot, o.snapshot ?? "", 3)}`)
    }
  }
  if (ref.files !== ours.files) problems.push(`final files differ at ${firstDifference(ref.files, ours.files, 3)}`)
  if (ref.config !== ours.config) {
    problems.push(`config.toml differs at ${firstDifference(ref.config ?? "<absent>", ours.config ?? "<absent>", 3)}`)
  }
  const ru = JSON.stringify(ref.unclaimed)
  const ou = JSON.stringify(ours.unclaimed)
  if (ru !== ou) problems.push(`responses to lines the reference does not answer: reference ${ru}, ours ${ou}`)
  return problems
}

const report = (scenario: Scenario, problems: ReadonlyArray<string>, ours?: RunResult): string =>
  `${scenario.name} (${scenario.checks}):\n  - ${problems.join("\n  - ")}` +
  (ours === undefined ? "" : `\n  ours stderr tail: ${ours.stderrTail.slice(-800)}`)

const names = new Set<string>()
for (const s of scenarios) {
  if (names.has(s.name)) throw new Error(`duplicate scenario name ${s.name}`)
  names.add(s.name)
}

if (referenceOnly) pruneRecords(names)

describe.concurrent(`conformance (${referenceOnly ? "reference only" : "reference vs ours"})`, () => {
  it("has at least 40 scenarios", () => {
    assert.isAtLeast(scenarios.length, 40)
  })

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const controlFiles = (scenario.deviations ?? []).flatMap((d) => (d.kind === "marketplaceLoadErrors" ? d.badFiles : []))
      // allSettled: every server is stopped and its temp root removed before the test ends
      const settled = await Promise.allSettled([
        runScenario(scenario, "reference"),
        referenceOnly ? Promise.resolve(undefined) : runScenario(scenario, "ours"),
        controlFiles.length > 0 ? runScenario(scenario, "reference", { skipSetup: new Set(controlFiles) }) : Promise.resolve(undefined)
      ])
      const failures = settled.flatMap((s) => (s.status === "rejected" ? [s.reason instanceof Error ? s.reason.message : String(s.reason)] : []))
      if (failures.length > 0) assert.fail(`${scenario.name}: a server run failed:\n${failures.join("\n")}`)
      const [ref, ours, control] = settled.map((s) => (s.status === "fulfilled" ? s.value : undefined))
      if (ref === undefined) throw new Error("internal: reference did not run")
      const expectationProblems = checkReferenceExpectations(scenario, ref)
      if (referenceOnly) {
        writeRecord(scenario.name, {
          scenario: scenario.name,
          cases: [...scenario.cases],
          checks: scenario.checks,
          deviations: (scenario.deviations ?? []).map((d) => ({ kind: d.kind, step: d.step, note: d.note })),
          reference: runToJson(ref),
          ...(control === undefined ? {} : { controlWithoutBadFiles: runToJson(control) })
        })
        assert.deepStrictEqual(expectationProblems, [], report(scenario, expectationProblems))
        return
      }
      if (ours === undefined) throw new Error("internal: ours did not run")
      const problems = [...expectationProblems.map((p) => `reference expectation: ${p}`), ...compareRuns(scenario, ref, ours, control)]
      if (problems.length > 0) assert.fail(report(scenario, problems, ours))
    }, SCENARIO_TIMEOUT_MS)
  }
})
