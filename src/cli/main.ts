/**
 * The `plugin-ledger` command's entry point. It loads only what `serve` needs to answer `initialize` (and the
 * client's first `plugin/list`) before anything else (EarlyInitialize.ts, EarlyList.ts); the commands, Effect and
 * the engine are loaded after that.
 */
import { parseArgs } from "node:util"
import { pathsFromEnv } from "../services/LedgerPaths.ts"
import { cliOptions } from "./CliOptions.ts"
import { answerInitialize, type EarlyStart } from "./EarlyInitialize.ts"
import { answerFirstList } from "./EarlyList.ts"

const argv = process.argv.slice(2)

/** `serve`'s early start; a command line that does not parse is left for the commands to report. */
const early = async (): Promise<EarlyStart | undefined> => {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: cliOptions })
  } catch {
    return undefined
  }
  if (parsed.positionals[0] !== "serve" || parsed.values.help) return undefined
  const paths = pathsFromEnv(process.env, parsed.values["codex-home"])
  const answered = await answerInitialize(paths.ledgerDir, process.stdin, process.stdout)
  const { initialized } = answered
  if (initialized === undefined) return { input: { head: answered.head, rest: answered.rest } }
  return answerFirstList(paths, { ...answered, initialized }, process.stdout)
}

// no top-level await: with one, the bundler keeps every module shared by the lazily loaded commands in chunks of
// its own, which `serve` would then load one by one
void early().then(async (start) => {
  const { runCli } = await import("./Cli.ts")
  runCli(argv, start)
})
