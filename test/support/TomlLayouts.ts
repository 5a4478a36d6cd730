import { Result } from "effect"
import fc from "fast-check"
import { parse } from "smol-toml"
import { type ConfigTomlError, removePluginTable, replacePluginTable, setPluginEnabled } from "../../src/adapters/ConfigToml.ts"

/**
 * Tables config.toml files are made of, each a header and the lines it may hold (a line may be several physical
 * lines): plugin tables and their sub-tables, `[plugins]` with dotted keys and inline tables, arrays of tables,
 * multi-line strings and arrays holding look-alike headers.
 */
const TABLES: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["[features]", ["plugins = true", "web_search = false # keep off"]],
  ["[plugins.\"sample@debug\"]", ["enabled = true", "note = \"n\"", "extra = [\n  1,\n]"]],
  ["[plugins.\"alpha@market\"] # hdr", ["enabled   = false # keep", "note = 'x'"]],
  ["[plugins.\"alpha@market\".mcp_servers.s]", ["enabled = false"]],
  ["[plugins . 'beta@market']", ["enabled = true"]],
  ["[plugins.bare-id]", ["enabled = false"]],
  ["[plugins]", ["\"gamma@market\".enabled = true", "\"delta@market\" = { enabled = false }"]],
  ["[mcp_servers.docs]", ["command = \"npx\"", "env = { LOG_LEVEL = \"warn\" }", "args = [\n  \"-y\", # [plugins.\"fake@x\"]\n  \"b\",\n]"]],
  ["[[skills.config]]", ["path = \"/x\"", "enabled = false"]],
  ["[[skills.config]]", ["path = \"/y\""]],
  ["[profiles.fast]", ["model = \"gpt-5-mini\"", "literal = '''\n[plugins.\"alpha@market\"]\n'''"]],
  ["[tui]", ["theme = \"dark\"", "when = 1979-05-27 07:32:00"]]
]
const ROOT = [
  "model = \"o3\"",
  "instructions = \"\"\"\nBe brief.\n[plugins.\"sample@debug\"]\nenabled = false\n\"\"\"",
  "notify = [\"notify-send\", \"Codex\"]"
]
const TRIVIA = ["", "# a comment", "   ", "# [plugins.\"sample@debug\"]"]

const withTrivia = (lines: ReadonlyArray<string>) =>
  fc.tuple(...lines.map((line) => fc.tuple(fc.array(fc.constantFrom(...TRIVIA), { maxLength: 2 }), fc.constant(line))))
    .map((pairs) => pairs.flatMap(([trivia, line]) => [...trivia, line]))

const section = (header: string, body: ReadonlyArray<string>) =>
  fc.subarray([...body]).chain((lines) => withTrivia([header, ...lines]))

/** Random config.toml texts (LF or CRLF, with or without a final line break) that smol-toml parses. */
export const tomlLayouts: fc.Arbitrary<string> = fc.record({
  root: fc.subarray(ROOT).chain(withTrivia),
  tables: fc.shuffledSubarray([...TABLES]).chain((tables) => fc.tuple(...tables.map(([h, b]) => section(h, b)))),
  eol: fc.constantFrom("\n", "\r\n"),
  finalBreak: fc.boolean()
}).map(({ eol, finalBreak, root, tables }) => {
  const text = [...root, ...tables.flat()].map((line) => line.replace(/\n/g, eol)).join(eol)
  return finalBreak && text !== "" ? text + eol : text
}).filter((text) => {
  try {
    parse(text)
    return true
  } catch {
    return false
  }
})

/** One plugin-table edit of the kinds Codex makes, on the plugin ids the layouts above hold (and two they do not). */
export interface TomlEdit {
  readonly op: "replace" | "set" | "remove"
  readonly id: string
  readonly enabled: boolean
}

export const tomlEdits: fc.Arbitrary<TomlEdit> = fc.record({
  op: fc.constantFrom("replace", "set", "remove"),
  id: fc.constantFrom("sample@debug", "alpha@market", "beta@market", "gamma@market", "bare-id", "fresh@x"),
  enabled: fc.boolean()
})

export const runTomlEdit = (text: string, { enabled, id, op }: TomlEdit): Result.Result<string, ConfigTomlError> =>
  op === "replace"
    ? replacePluginTable(text, id, enabled)
    : op === "set"
    ? setPluginEnabled(text, id, enabled)
    : removePluginTable(text, id)

/** An edit's result as one comparable string: the new text, or the refusal's reason and message. */
export const editOutcome = (result: Result.Result<string, ConfigTomlError>): string =>
  Result.isSuccess(result) ? result.success : `${result.failure.reason}: ${result.failure.message}`
