/**
 * Where everything lives under CODEX_HOME and HOME. Plain functions with no Effect dependency, so `serve`'s
 * first moments (answering `initialize` before the engine is loaded) can find the ledger too.
 */
import { homedir } from "node:os"
import { join, resolve } from "node:path"

/** Where everything lives; derived once from the environment (CODEX_HOME defaults to ~/.codex). */
export interface LedgerPaths {
  /** the user's home: `$HOME/.agents/plugins/marketplace.json` is discovered first */
  readonly home: string
  readonly codexHome: string
  readonly configPath: string
  readonly cacheDir: string
  readonly ledgerDir: string
  readonly blobsDir: string
  readonly checkpointPath: string
  /** curated marketplace mirror root (`.tmp/plugins`) and its sha file */
  readonly curatedRoot: string
  readonly curatedShaPath: string
  readonly authPath: string
}

export const makeLedgerPaths = (options: { readonly codexHome: string; readonly home: string }): LedgerPaths => {
  const codexHome = resolve(options.codexHome)
  const ledgerDir = join(codexHome, "ledger")
  return {
    home: resolve(options.home),
    codexHome,
    configPath: join(codexHome, "config.toml"),
    cacheDir: join(codexHome, "plugins", "cache"),
    ledgerDir,
    blobsDir: join(ledgerDir, "blobs"),
    checkpointPath: join(ledgerDir, "checkpoint.json"),
    curatedRoot: join(codexHome, ".tmp", "plugins"),
    curatedShaPath: join(codexHome, ".tmp", "plugins.sha"),
    authPath: join(codexHome, "auth.json")
  }
}

/** From `HOME` and `CODEX_HOME`; `codexHome` (the `--codex-home` flag) wins over `CODEX_HOME`. */
export const pathsFromEnv = (env: NodeJS.ProcessEnv = process.env, codexHomeFlag?: string): LedgerPaths => {
  const home = env["HOME"] !== undefined && env["HOME"] !== "" ? env["HOME"] : homedir()
  const codexHome = codexHomeFlag ?? (env["CODEX_HOME"] !== undefined && env["CODEX_HOME"] !== "" ? env["CODEX_HOME"] : join(home, ".codex"))
  return makeLedgerPaths({ codexHome, home })
}
