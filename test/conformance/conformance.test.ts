/**
 * Differential conformance suite: every scenario runs against the reference (`codex app-server`,
 * @openai/codex 0.116.0) and against ours (`src/cli/main.ts serve`), each in fresh temp dirs, and
 * the raw response lines, the plugin cache tree and the config.toml bytes must be identical
 * (paths normalised to `<ROOT>`), except for the deliberate deviations each scenario declares.
 * A declared deviation is asserted on both sides: the reference's behaviour (so a change there is
 * noticed) and ours's exact behaviour.
 *
 * `CONFORMANCE_TARGET=reference` runs only the reference: it checks each scenario's expectations
 * (taken from the mapped codex-conformance.json case) and the reference side of every deviation,
 * and records the output under `test/conformance/recorded/`.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  type Deviation,
  type ErrorExpectation,
  errorOf,
  type FrameAnswerExpectation,
  initializeShape,
  type Json,
  parseObject,
  pruneRecords,
  type RunResult,
  runScenario,
  runToJson,
  type Scenario,
  splitConfigEntry,
  type StepResult,
  UNKNOWN_METHOD_MARK,
  withoutResultKey,
  writeRecord
} from "./harness.ts"
import { scenarios } from "./scenarios.ts"

const referenceOnly = process.env["CONFORMANCE_TARGET"] === "reference"
const SCENARIO_TIMEOUT_MS = 60_000

const visible = (line: string): string => line.replaceAll("\r", "\u240d").replaceAll("\t", "\u2409")

/** Shows where two texts differ: the first `max` differing lines (compared by position), each with its column. */
const firstDifference = (expected: string, actual: string, max = 1, labels: readonly [string, string] = ["reference", "ours"]): string => {
  const a = expected.split("\n")
  const b = actual.split("\n")
  const out: Array<string> = []
  const width = Math.max(labels[0].length, labels[1].length) + 1
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
      out.push(
        `line ${i + 1}, column ${col + 1}:\n    ${`${labels[0]}:`.padEnd(width)} ${show(x)}\n    ${`${labels[1]}:`.padEnd(width)} ${show(y)}`
      )
    }
  }
  return out.length === 0 ? "identical" : out.join("\n  ")
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const tryParse = (line: string): Record<string, unknown> | undefined => {
  try {
    return parseObject(line)
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Scenario bookkeeping
// ---------------------------------------------------------------------------------------------

const isResponseDeviation = (d: Deviation): boolean => d.kind !== "configBytes"

/** Deviations under which ours must not change anything (files, ledger events). */
const oursLeavesUnchanged = (d: Deviation): boolean => d.kind === "refusedByUs" || d.kind === "configErrorPrefix"

/** Steps the reference performs with file effects ours refuses: left out of the control run. */
const controlSkipSteps = (scenario: Scenario): ReadonlySet<number> =>
  new Set(
    (scenario.deviations ?? []).flatMap((d) =>
      (d.kind === "refusedByUs" && d.referenceChangesFiles) || (d.kind === "configErrorPrefix" && d.referenceChangesFiles === true)
        ? [d.step]
        : []
    )
  )

const deviationsAt = (scenario: Scenario, step: number): ReadonlyArray<Deviation> => (scenario.deviations ?? []).filter((d) => d.step === step)

const stepOf = (run: RunResult, index: number): StepResult | undefined => run.steps.find((s) => s.step === index)

/** State of a run just before step `index` (after the previous step that ran, or the initial state). */
const stateBefore = (run: RunResult, index: number): { readonly files: string; readonly config: string | null; readonly events: number | null } => {
  const previous = run.steps.filter((s) => s.step < index).at(-1)
  return previous ?? { files: run.initialFiles, config: run.initialConfig, events: run.initialEvents }
}

const isSnapshotStep = (scenario: Scenario, index: number): boolean => {
  const step = scenario.steps[index]
  return step !== undefined && (step.kind === "request" || step.kind === "raw") && step.snapshot === true
}

/** Declaration errors (a deviation on a step that does not exist or does not fit). */
const validateScenario = (scenario: Scenario): Array<string> => {
  const problems: Array<string> = []
  for (const d of scenario.deviations ?? []) {
    const step = scenario.steps[d.step]
    if (step === undefined || step.kind === "notify" || step.kind === "send") {
      problems.push(`deviation ${d.kind} names step ${d.step}, which is not a step with a response`)
    } else if ((d.kind === "frameAnswered") !== (step.kind === "frame")) {
      problems.push(`deviation ${d.kind} on step ${d.step} (${step.kind}): frameAnswered is for frame steps only, and frame steps take no other response deviation`)
    }
  }
  for (const [index] of scenario.steps.entries()) {
    if (deviationsAt(scenario, index).filter(isResponseDeviation).length > 1) problems.push(`step ${index} has more than one response deviation`)
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Reference expectations (from the mapped codex-conformance.json cases)
// ---------------------------------------------------------------------------------------------

const checkReferenceExpectations = (scenario: Scenario, ref: RunResult): Array<string> => {
  const problems: Array<string> = []
  for (const check of scenario.expect ?? []) {
    const step = stepOf(ref, check.step)
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

// ---------------------------------------------------------------------------------------------
// Deviations: the reference's side
// ---------------------------------------------------------------------------------------------

const MARKETPLACE_ERROR = /^invalid marketplace file `([^`]*)`: /
const JSONRPC_PREFIX = "{\"jsonrpc\":\"2.0\","

/** Serialising the parsed line again gives the same bytes (so a line can be edited through JSON). */
const roundTrips = (line: string): Record<string, unknown> | undefined => {
  const parsed = tryParse(line)
  return parsed !== undefined && JSON.stringify(parsed) === line ? parsed : undefined
}

/** The plugin summaries of a plugin/list (`marketplaces[].plugins[]`) or plugin/read (`plugin.summary`) response. */
const summariesOf = (response: Record<string, unknown>): Map<string, Record<string, unknown>> => {
  const out = new Map<string, Record<string, unknown>>()
  const add = (summary: unknown) => {
    if (isRecord(summary) && typeof summary["id"] === "string") out.set(summary["id"], summary)
  }
  const result = response["result"]
  if (!isRecord(result)) return out
  const marketplaces = result["marketplaces"]
  if (Array.isArray(marketplaces)) {
    for (const m of marketplaces) {
      const plugins = isRecord(m) ? m["plugins"] : undefined
      if (Array.isArray(plugins)) plugins.forEach(add)
    }
  }
  const plugin = result["plugin"]
  if (isRecord(plugin)) add(plugin["summary"])
  return out
}

const checkDeviationOnReference = (d: Deviation, ref: RunResult): Array<string> => {
  const r = stepOf(ref, d.step)
  if (r === undefined) return [`no reference result for step ${d.step}`]
  const stale = (what: string) => [`deviation is stale: ${what}`]
  switch (d.kind) {
    case "marketplaceLoadErrors": {
      const e = errorOf(r.line)
      return e !== undefined && e.code === -32600 && MARKETPLACE_ERROR.test(e.message)
        ? []
        : stale(`the reference no longer fails with -32600 invalid marketplace file: ${r.line}`)
    }
    case "unknownMethodList": {
      const e = errorOf(r.line)
      return e !== undefined && e.message.includes(UNKNOWN_METHOD_MARK) ? [] : stale(`the reference answered ${r.line}`)
    }
    case "jsonrpcEcho": {
      const parsed = tryParse(r.line)
      if (parsed === undefined) return [`reference line is not a JSON object: ${r.line}`]
      return "jsonrpc" in parsed ? stale(`the reference now echoes jsonrpc: ${r.line}`) : []
    }
    case "frameAnswered":
      return (r.answers ?? []).length === 0 ? [] : stale(`the reference now answers this frame: ${JSON.stringify(r.answers)}`)
    case "topLevelPolicy": {
      const parsed = roundTrips(r.line)
      if (parsed === undefined) return [`reference line does not survive JSON re-serialisation, cannot derive ours's line: ${r.line}`]
      const summaries = summariesOf(parsed)
      return d.plugins.flatMap((p) => {
        const s = summaries.get(p.id)
        if (s === undefined) return [`the reference's response has no summary for ${p.id}: ${r.line}`]
        return s["installPolicy"] === p.reference.installPolicy && s["authPolicy"] === p.reference.authPolicy
          ? []
          : stale(
            `the reference reports ${p.id} as ${String(s["installPolicy"])}/${String(s["authPolicy"])}, declared ` +
              `${p.reference.installPolicy}/${p.reference.authPolicy} (does it read the top-level keys now?)`
          )
      })
    }
    case "refusedByUs": {
      const problems: Array<string> = []
      const parsed = tryParse(r.line)
      const expected = JSON.stringify(d.reference.result)
      if (parsed === undefined || !("result" in parsed) || JSON.stringify(parsed["result"]) !== expected) {
        problems.push(...stale(`the reference no longer answers with result ${expected}: ${r.line}`))
      }
      if (d.referenceChangesFiles && r.files === stateBefore(ref, d.step).files) {
        problems.push(...stale("the reference no longer changes any file at this step"))
      }
      for (const part of d.referenceConfigIncludes ?? []) {
        if (!(r.config ?? "").includes(part)) problems.push(`the reference's config.toml after this step lacks ${JSON.stringify(part)}: ${JSON.stringify(r.config)}`)
      }
      for (const part of d.referenceConfigExcludes ?? []) {
        if ((r.config ?? "").includes(part)) problems.push(`the reference's config.toml after this step still contains ${JSON.stringify(part)}: ${JSON.stringify(r.config)}`)
      }
      return problems
    }
    case "configErrorPrefix": {
      const problems: Array<string> = []
      const e = errorOf(r.line)
      if (e === undefined || e.code !== d.code || !e.message.startsWith(d.prefix)) {
        problems.push(...stale(`the reference's answer is not error ${d.code} starting with ${JSON.stringify(d.prefix)}: ${r.line}`))
      }
      if (d.referenceChangesFiles === true && r.files === stateBefore(ref, d.step).files) {
        problems.push(...stale("the reference no longer changes any file at this step"))
      }
      return problems
    }
    case "configBytes":
      return r.config === d.reference
        ? []
        : [`the reference's config.toml after this step is not the declared bytes: ${firstDifference(d.reference ?? "<absent>", r.config ?? "<absent>", 3, ["declared", "reference"])}`]
  }
}

// ---------------------------------------------------------------------------------------------
// Deviations: ours's side
// ---------------------------------------------------------------------------------------------

/** Checks an error line: exactly `{"error":{"code","message"},"id"}` (or with `"jsonrpc":"2.0"` first). */
const checkErrorLine = (line: string, expected: ErrorExpectation, id: unknown, jsonrpc = false): Array<string> => {
  const parsed = tryParse(line)
  if (parsed === undefined) return [`ours's answer is not a JSON object: ${line}`]
  const error = parsed["error"]
  if (!isRecord(error) || typeof error["message"] !== "string") return [`ours's answer is not an error: ${line}`]
  const message = error["message"]
  const problems: Array<string> = []
  const layout = JSON.stringify(jsonrpc ? { jsonrpc: "2.0", error: { code: error["code"], message }, id } : { error: { code: error["code"], message }, id })
  if (layout !== line) problems.push(`ours's error line is not laid out as expected (keys, id ${JSON.stringify(id)}): ${firstDifference(layout, line, 1, ["expected", "ours"])}`)
  if (error["code"] !== expected.code) problems.push(`ours's error code is ${String(error["code"])}, expected ${expected.code}: ${line}`)
  if (expected.message !== undefined && message !== expected.message) {
    problems.push(`ours's error message differs: ${firstDifference(expected.message, message, 1, ["expected", "ours"])}`)
  }
  if (expected.messagePrefix !== undefined && !message.startsWith(expected.messagePrefix)) {
    problems.push(`ours's error message does not start with ${JSON.stringify(expected.messagePrefix)}: ${JSON.stringify(message)}`)
  }
  for (const part of expected.messageIncludes ?? []) {
    if (!message.includes(part)) problems.push(`ours's error message lacks ${JSON.stringify(part)}: ${JSON.stringify(message)}`)
  }
  return problems
}

const checkFrameAnswer = (answers: ReadonlyArray<string>, expected: FrameAnswerExpectation | { readonly line: string }): Array<string> => {
  if (answers.length !== 1) {
    return [`ours answered the frame with ${answers.length} lines (expected exactly one): ${JSON.stringify(answers)}`]
  }
  const line = answers[0] ?? ""
  if ("line" in expected) return line === expected.line ? [] : [`ours's answer differs: ${firstDifference(expected.line, line, 1, ["expected", "ours"])}`]
  return checkErrorLine(line, expected, expected.id, expected.jsonrpc === true)
}

const checkDeviationOnOurs = (d: Deviation, r: StepResult, o: StepResult, badFilesControl: RunResult | undefined): Array<string> => {
  switch (d.kind) {
    case "marketplaceLoadErrors": {
      const refError = errorOf(r.line)
      const match = refError === undefined ? null : MARKETPLACE_ERROR.exec(refError.message)
      if (refError === undefined || match === null) return [] // reported as stale on the reference's side
      const controlLine = badFilesControl === undefined ? undefined : stepOf(badFilesControl, d.step)?.line
      if (controlLine === undefined) return ["internal: control run missing"]
      const problems: Array<string> = []
      // both sides re-serialised by JSON.stringify, so only content and key order count here
      const { removed, rest } = withoutResultKey(o.line, "marketplaceLoadErrors")
      const expectedRest = JSON.stringify(parseObject(controlLine))
      if (rest !== expectedRest) {
        problems.push("ours (without marketplaceLoadErrors) differs from the reference's listing without the bad file: " + firstDifference(expectedRest, rest))
      }
      const expected = JSON.stringify([{ marketplacePath: match[1], message: refError.message }])
      const actual = JSON.stringify(removed)
      if (actual !== expected) problems.push(`marketplaceLoadErrors: ${firstDifference(expected, actual ?? "<missing>")}`)
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
      const a = cut(r.line)
      if (a === undefined) return []
      const b = cut(o.line)
      if (b === undefined) return [`ours is not an unknown-variant error: ${o.line}`]
      return a === b ? [] : [`unknown method error up to "${UNKNOWN_METHOD_MARK}": ${firstDifference(a, b)}`]
    }
    case "jsonrpcEcho": {
      if (!o.line.startsWith(JSONRPC_PREFIX)) return [`ours does not start with ${JSONRPC_PREFIX}: ${o.line}`]
      const rest = "{" + o.line.slice(JSONRPC_PREFIX.length)
      return rest === r.line ? [] : [`ours without its leading "jsonrpc":"2.0", differs: ${firstDifference(r.line, rest)}`]
    }
    case "frameAnswered":
      return checkFrameAnswer(o.answers ?? [], d.ours)
    case "topLevelPolicy": {
      const expected = roundTrips(r.line)
      if (expected === undefined) return []
      const summaries = summariesOf(expected)
      for (const p of d.plugins) {
        const s = summaries.get(p.id)
        if (s === undefined) continue
        s["installPolicy"] = p.ours.installPolicy
        s["authPolicy"] = p.ours.authPolicy
      }
      const line = JSON.stringify(expected)
      return line === o.line ? [] : [`ours differs from the reference's line with the top-level policies applied: ${firstDifference(line, o.line, 1, ["expected", "ours"])}`]
    }
    case "refusedByUs": {
      const id = tryParse(r.line)?.["id"] ?? null
      return checkErrorLine(o.line, d.ours, id)
    }
    case "configErrorPrefix": {
      const e = errorOf(o.line)
      if (e === undefined) return [`ours did not fail: ${o.line}`]
      const problems: Array<string> = []
      if (e.code !== d.code) problems.push(`ours's error code is ${String(e.code)}, expected ${d.code}`)
      if (!e.message.startsWith(d.prefix)) problems.push(`ours's message does not start with ${JSON.stringify(d.prefix)}: ${JSON.stringify(e.message)}`)
      const cut = (line: string): string | undefined => {
        const parsed = roundTrips(line)
        const error = parsed?.["error"]
        if (parsed === undefined || !isRecord(error)) return undefined
        return JSON.stringify({ ...parsed, error: { ...error, message: d.prefix } })
      }
      const a = cut(r.line)
      const b = cut(o.line)
      if (b === undefined) problems.push(`ours's line does not survive JSON re-serialisation: ${o.line}`)
      else if (a !== undefined && a !== b) problems.push(`lines with the message cut to the prefix differ: ${firstDifference(a, b)}`)
      return problems
    }
    case "configBytes":
      return []
  }
}

// ---------------------------------------------------------------------------------------------
// Reference vs ours
// ---------------------------------------------------------------------------------------------

interface ConfigOverride {
  readonly step: number
  readonly ours: string | null
  /** The expected run's config.toml when the override was declared (it must not change later). */
  readonly baseConfig: string | null
}

const compareFiles = (
  label: string,
  expected: { readonly files: string; readonly config: string | null },
  actual: { readonly files: string; readonly config: string | null },
  override: ConfigOverride | undefined
): Array<string> => {
  if (override === undefined) {
    const problems: Array<string> = []
    if (expected.files !== actual.files) problems.push(`${label}: files differ at ${firstDifference(expected.files, actual.files, 3)}`)
    else if (expected.config !== actual.config) problems.push(`${label}: config.toml differs at ${firstDifference(expected.config ?? "<absent>", actual.config ?? "<absent>", 3)}`)
    return problems
  }
  const problems: Array<string> = []
  if (expected.config !== override.baseConfig) {
    problems.push(`${label}: the configBytes deviation of step ${override.step} is stale: the reference changed config.toml again; declare ours's bytes for this step`)
  }
  const e = splitConfigEntry(expected.files)
  const a = splitConfigEntry(actual.files)
  if (e.rest !== a.rest) problems.push(`${label}: files differ at ${firstDifference(e.rest, a.rest, 3)}`)
  if (e.mode !== a.mode) problems.push(`${label}: config.toml mode: reference ${String(e.mode)}, ours ${String(a.mode)}`)
  if (actual.config !== override.ours) {
    problems.push(
      `${label}: config.toml is not the declared bytes (configBytes of step ${override.step}): ` +
        firstDifference(override.ours ?? "<absent>", actual.config ?? "<absent>", 3, ["declared", "ours"])
    )
  }
  return problems
}

const compareRuns = (
  scenario: Scenario,
  ref: RunResult,
  ours: RunResult,
  badFilesControl: RunResult | undefined,
  stepsControl: RunResult | undefined
): Array<string> => {
  const problems: Array<string> = []
  /** What ours must match outside the deviations: the reference, or the reference without the steps ours refuses. */
  const base = stepsControl ?? ref
  if (ref.handshake !== undefined && ours.handshake !== undefined) {
    const a = initializeShape(ref.handshake)
    const b = initializeShape(ours.handshake)
    if (a !== b) problems.push(`handshake initialize result keys differ: ${firstDifference(a, b)}`)
  }
  if (ref.steps.length !== ours.steps.length) {
    problems.push(`step count differs: reference ${ref.steps.length}, ours ${ours.steps.length}`)
  }
  let override: ConfigOverride | undefined
  for (const o of ours.steps) {
    const r = stepOf(ref, o.step)
    if (r === undefined) continue
    const b = stepOf(base, o.step)
    const label = `step ${o.step} (${o.description})`
    const devs = deviationsAt(scenario, o.step)
    const responseDeviation = devs.find(isResponseDeviation)
    if (responseDeviation !== undefined) {
      // against the run ours must match at this step: the control run when it has the step, else the reference
      for (const p of checkDeviationOnOurs(responseDeviation, b ?? r, o, badFilesControl)) problems.push(`${label} [deviation ${responseDeviation.kind}]: ${p}`)
      if (o.answers !== undefined && b !== undefined && o.line !== b.line) {
        problems.push(`${label}: the sentinel request after the frame was answered differently: ${firstDifference(b.line, o.line)}`)
      }
    } else if (b === undefined) {
      problems.push(`${label}: internal: left out of the control run without a response deviation`)
    } else if (o.answers !== undefined) {
      const a = JSON.stringify(b.answers ?? [])
      const c = JSON.stringify(o.answers)
      if (a !== c) problems.push(`${label}: answers to the frame differ: reference ${a}, ours ${c}`)
      if (o.line !== b.line) problems.push(`${label}: the sentinel request after the frame was answered differently: ${firstDifference(b.line, o.line)}`)
    } else if (b.isInitialize && errorOf(b.line) === undefined) {
      const a = initializeShape(b.line)
      const c = initializeShape(o.line)
      if (a !== c) problems.push(`${label}: initialize result keys differ: ${firstDifference(a, c)}`)
    } else if (b.line !== o.line) {
      problems.push(`${label}: response differs at ${firstDifference(b.line, o.line)}`)
    }
    if (devs.some(oursLeavesUnchanged)) {
      const before = stateBefore(ours, o.step)
      if (o.files !== before.files) problems.push(`${label}: ours changed files although it refuses this step: ${firstDifference(before.files, o.files, 3, ["before", "after"])}`)
      if (o.events !== before.events) problems.push(`${label}: ours's ledger went from ${String(before.events)} to ${String(o.events)} events although it refuses this step`)
    }
    const configDeviation = devs.find((d) => d.kind === "configBytes")
    if (configDeviation?.kind === "configBytes") {
      if (b === undefined) problems.push(`${label}: internal: configBytes on a step left out of the control run`)
      override = { step: o.step, ours: configDeviation.ours, baseConfig: b?.config ?? null }
      if (!isSnapshotStep(scenario, o.step)) problems.push(...compareFiles(`${label} files`, b ?? o, o, override))
    }
    if (isSnapshotStep(scenario, o.step) && b !== undefined) problems.push(...compareFiles(`${label} files after this step`, b, o, override))
  }
  problems.push(...compareFiles("final state", base, ours, override))
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

const deviationRecord = (d: Deviation): Json => JSON.parse(JSON.stringify(d)) as Json

describe.concurrent(`conformance (${referenceOnly ? "reference only" : "reference vs ours"})`, () => {
  it("has at least 40 scenarios", () => {
    assert.isAtLeast(scenarios.length, 40)
  })

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const declarationProblems = validateScenario(scenario)
      if (declarationProblems.length > 0) assert.fail(report(scenario, declarationProblems))
      const badFiles = (scenario.deviations ?? []).flatMap((d) => (d.kind === "marketplaceLoadErrors" ? d.badFiles : []))
      const skipSteps = controlSkipSteps(scenario)
      // allSettled: every server is stopped and its temp root removed before the test ends
      const settled = await Promise.allSettled([
        runScenario(scenario, "reference"),
        referenceOnly ? Promise.resolve(undefined) : runScenario(scenario, "ours"),
        badFiles.length > 0 ? runScenario(scenario, "reference", { skipSetup: new Set(badFiles) }) : Promise.resolve(undefined),
        skipSteps.size > 0 ? runScenario(scenario, "reference", { skipSteps }) : Promise.resolve(undefined)
      ])
      const failures = settled.flatMap((s) => (s.status === "rejected" ? [s.reason instanceof Error ? s.reason.message : String(s.reason)] : []))
      if (failures.length > 0) assert.fail(`${scenario.name}: a server run failed:\n${failures.join("\n")}`)
      const [ref, ours, badFilesControl, stepsControl] = settled.map((s) => (s.status === "fulfilled" ? s.value : undefined))
      if (ref === undefined) throw new Error("internal: reference did not run")
      const referenceProblems = [
        ...checkReferenceExpectations(scenario, ref),
        ...(scenario.deviations ?? []).flatMap((d) => checkDeviationOnReference(d, ref).map((p) => `step ${d.step} [deviation ${d.kind}, reference side]: ${p}`))
      ]
      if (referenceOnly) {
        writeRecord(scenario.name, {
          scenario: scenario.name,
          cases: [...scenario.cases],
          checks: scenario.checks,
          deviations: (scenario.deviations ?? []).map(deviationRecord),
          reference: runToJson(ref),
          ...(badFilesControl === undefined ? {} : { controlWithoutBadFiles: runToJson(badFilesControl) }),
          ...(stepsControl === undefined ? {} : { controlWithoutRefusedSteps: runToJson(stepsControl) })
        })
        assert.deepStrictEqual(referenceProblems, [], report(scenario, referenceProblems))
        return
      }
      if (ours === undefined) throw new Error("internal: ours did not run")
      const problems = [
        ...referenceProblems.map((p) => `reference expectation: ${p}`),
        ...compareRuns(scenario, ref, ours, badFilesControl, stepsControl)
      ]
      if (problems.length > 0) assert.fail(report(scenario, problems, ours))
    }, SCENARIO_TIMEOUT_MS)
  }
})
