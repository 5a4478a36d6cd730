/**
 * The `plugin-ledger` command's entry point. It loads only what `serve` needs to answer `initialize` before
 * anything else (EarlyInitialize.ts); the commands, Effect and the engine are loaded after that.
 */
import { parseArgs } from "node:util"
import { pathsFromEnv } from "../services/LedgerPaths.ts"
import { cliOptions } from "./CliOptions.ts"
import { type EarlyStart, startServe } from "./EarlyInitialize.ts"

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
  return startServe(pathsFromEnv(process.env, parsed.values["codex-home"]).ledgerDir, process.stdin, process.stdout)
}

// no top-level await: with one, the bundler keeps every module shared by the lazily loaded commands in chunks of
// its own, which `serve` would then load one by one
void early().then(async (start) => {
  const { runCli } = await import("./Cli.ts")
  runCli(argv, start)
})
