import type { ConfigProblem } from "../adapters/ConfigToml.ts"

/**
 * How the reference words a config.toml it cannot load, per call site: listing reloads the config, install
 * loads it through the config service, uninstall and toggles edit the document. Positions are smol-toml's;
 * the parser's own wording can differ from toml_edit's (documented).
 */
export const describeConfigProblem = (
  problem: ConfigProblem,
  configPath: string,
  site: "reload" | "load" | "edit"
): string => {
  const position = problem.line === undefined ? "" : `:${problem.line}:${problem.column ?? 0}`
  if (problem.kind === "Type") {
    return site === "reload"
      ? `failed to reload config: ${configPath}${position}: ${problem.message}`
      : `Invalid configuration: ${problem.message}\nin \`${problem.keyPath ?? ""}\`\n`
  }
  switch (site) {
    case "reload":
      return `failed to reload config: ${configPath}${position}: ${problem.message}`
    case "load":
      return `failed to load configuration: ${configPath}${position}: ${problem.message}`
    case "edit":
      return `TOML parse error at line ${problem.line ?? 0}, column ${problem.column ?? 0}\n${problem.message}\n`
  }
}
