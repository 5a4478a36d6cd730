import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import {
  type ConfigTomlError,
  parseConfig,
  type PluginConfigEntry,
  removePluginTable,
  replacePluginTable,
  setPluginEnabled
} from "../../src/adapters/ConfigToml.ts"
import { scaled, seedFor } from "../support/Soak.ts"
import { editOutcome, runTomlEdit, tomlEdits, tomlLayouts } from "../support/TomlLayouts.ts"

const ok = <A>(result: Result.Result<A, ConfigTomlError>): A => {
  if (Result.isFailure(result)) return assert.fail(`${result.failure.reason}: ${result.failure.message}`)
  return result.success
}
const failure = <A>(result: Result.Result<A, ConfigTomlError>): ConfigTomlError => {
  if (Result.isSuccess(result)) return assert.fail(`expected a ConfigTomlError, got ${JSON.stringify(result.success)}`)
  return result.failure
}
const toCrlf = (text: string) => text.replace(/\r\n/g, "\n").replace(/\n/g, "\r\n")

const SAME = Symbol("unchanged")
type Expected = string | typeof SAME
interface CodexCase {
  readonly name: string
  /**
   * Where we deliberately differ from Codex (the expected bytes below are still Codex's):
   * - "crlf": Codex rewrites the whole file with LF; we keep CRLF, so we expect Codex's bytes with CRLF breaks.
   * - "finalNewline": Codex terminates the file's last line even when it is outside the plugin table; we leave
   *   bytes outside `[plugins."<id>"]` untouched, so we expect Codex's bytes without that final "\n".
   */
  readonly deviation?: "crlf" | "finalNewline"
  readonly input: string
  readonly install: Expected
  readonly uninstall: Expected
  readonly disable: Expected
  readonly enable: Expected
}

/*
 * Every expected output below was produced by the real codex-cli 0.116.0 (`codex app-server` over stdio,
 * CODEX_HOME=HOME=<fresh temp dir>, CODEX_DISABLE_CURATED_PLUGIN_SYNC=1) from `input` as config.toml:
 *   install   = `plugin/install` of plugin "sample" from a local marketplace "debug"  -> replacePluginTable(id, true)
 *   uninstall = `plugin/uninstall` {"pluginId":"sample@debug"}                        -> removePluginTable(id)
 *   disable   = `config/value/write` keyPath "plugins.sample@debug.enabled", false     -> setPluginEnabled(id, false)
 *   enable    = `config/value/write` keyPath "plugins.sample@debug.enabled", true      -> setPluginEnabled(id, true)
 * SAME means Codex left the file byte-for-byte unchanged.
 */
const corpus: ReadonlyArray<CodexCase> = [
  {
    name: "empty file",
    input: "",
    install: "[plugins.\"sample@debug\"]\nenabled = true\n",
    uninstall: SAME,
    disable: "[plugins.\"sample@debug\"]\nenabled = false\n",
    enable: "[plugins.\"sample@debug\"]\nenabled = true\n"
  },
  {
    name: "only [features]",
    input: "[features]\nplugins = true\n",
    install: "[features]\nplugins = true\n\n[plugins.\"sample@debug\"]\nenabled = true\n",
    uninstall: SAME,
    disable: "[features]\nplugins = true\n\n[plugins.\"sample@debug\"]\nenabled = false\n",
    enable: "[features]\nplugins = true\n\n[plugins.\"sample@debug\"]\nenabled = true\n"
  },
  {
    name: "typical config, plugin absent",
    input: "# Codex configuration\n" +
      "model = \"gpt-5\"           # default model\n" +
      "model_reasoning_effort = \"high\"\n" +
      "approval_policy = \"on-request\"\n" +
      "sandbox_mode    = \"workspace-write\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "web_search = false # keep off\n" +
      "\n" +
      "[plugins.\"github@openai-curated\"]\n" +
      "enabled = true\n" +
      "\n" +
      "# docs server\n" +
      "[mcp_servers.docs]\n" +
      "command = \"npx\"\n" +
      "args = [\"-y\", \"@acme/docs-mcp\"]\n" +
      "env = { LOG_LEVEL = \"warn\", TOKEN = \"x\" }\n" +
      "\n" +
      "[profiles.fast]\n" +
      "model = \"gpt-5-mini\"\n",
    install: "# Codex configuration\n" +
      "model = \"gpt-5\"           # default model\n" +
      "model_reasoning_effort = \"high\"\n" +
      "approval_policy = \"on-request\"\n" +
      "sandbox_mode    = \"workspace-write\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "web_search = false # keep off\n" +
      "\n" +
      "[plugins.\"github@openai-curated\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "# docs server\n" +
      "[mcp_servers.docs]\n" +
      "command = \"npx\"\n" +
      "args = [\"-y\", \"@acme/docs-mcp\"]\n" +
      "env = { LOG_LEVEL = \"warn\", TOKEN = \"x\" }\n" +
      "\n" +
      "[profiles.fast]\n" +
      "model = \"gpt-5-mini\"\n",
    uninstall: SAME,
    disable: "# Codex configuration\n" +
      "model = \"gpt-5\"           # default model\n" +
      "model_reasoning_effort = \"high\"\n" +
      "approval_policy = \"on-request\"\n" +
      "sandbox_mode    = \"workspace-write\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "web_search = false # keep off\n" +
      "\n" +
      "[plugins.\"github@openai-curated\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "# docs server\n" +
      "[mcp_servers.docs]\n" +
      "command = \"npx\"\n" +
      "args = [\"-y\", \"@acme/docs-mcp\"]\n" +
      "env = { LOG_LEVEL = \"warn\", TOKEN = \"x\" }\n" +
      "\n" +
      "[profiles.fast]\n" +
      "model = \"gpt-5-mini\"\n",
    enable: "# Codex configuration\n" +
      "model = \"gpt-5\"           # default model\n" +
      "model_reasoning_effort = \"high\"\n" +
      "approval_policy = \"on-request\"\n" +
      "sandbox_mode    = \"workspace-write\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "web_search = false # keep off\n" +
      "\n" +
      "[plugins.\"github@openai-curated\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "# docs server\n" +
      "[mcp_servers.docs]\n" +
      "command = \"npx\"\n" +
      "args = [\"-y\", \"@acme/docs-mcp\"]\n" +
      "env = { LOG_LEVEL = \"warn\", TOKEN = \"x\" }\n" +
      "\n" +
      "[profiles.fast]\n" +
      "model = \"gpt-5-mini\"\n"
  },
  {
    name: "plugin between other plugin tables, next table has a leading comment",
    input: "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "# disabled because it was noisy\n" +
      "[plugins.\"beta@market\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n",
    install: SAME,
    uninstall: "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "# disabled because it was noisy\n" +
      "[plugins.\"beta@market\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n",
    disable: "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "# disabled because it was noisy\n" +
      "[plugins.\"beta@market\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n",
    enable: SAME
  },
  {
    name: "plugin with extra keys and an mcp_servers sub-table",
    input: "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "note = \"pinned\"\n" +
      "\n" +
      "# per-plugin MCP policy\n" +
      "[plugins.\"sample@debug\".mcp_servers.search]\n" +
      "enabled = false\n" +
      "tools = [\"a\", \"b\"]\n" +
      "\n" +
      "[profiles.work]\n" +
      "model = \"o3\"\n",
    install: "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[profiles.work]\n" +
      "model = \"o3\"\n",
    uninstall: "[features]\nplugins = true\n\n[profiles.work]\nmodel = \"o3\"\n",
    disable: SAME,
    enable: "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "note = \"pinned\"\n" +
      "\n" +
      "# per-plugin MCP policy\n" +
      "[plugins.\"sample@debug\".mcp_servers.search]\n" +
      "enabled = false\n" +
      "tools = [\"a\", \"b\"]\n" +
      "\n" +
      "[profiles.work]\n" +
      "model = \"o3\"\n"
  },
  {
    name: "comment directly above the plugin header",
    input: "approval_policy = \"never\"\n" +
      "\n" +
      "# Installed by the ledger on 2026-01-02\n" +
      "# (do not edit by hand)\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[profiles.y]\n" +
      "model = \"o4-mini\"\n",
    install: SAME,
    uninstall: "approval_policy = \"never\"\n\n[profiles.y]\nmodel = \"o4-mini\"\n",
    disable: "approval_policy = \"never\"\n" +
      "\n" +
      "# Installed by the ledger on 2026-01-02\n" +
      "# (do not edit by hand)\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[profiles.y]\n" +
      "model = \"o4-mini\"\n",
    enable: SAME
  },
  {
    name: "enabled = false with trailing comment",
    input: "[plugins.\"sample@debug\"]\n" +
      "enabled = false # turned off: too slow\n" +
      "\n" +
      "[plugins.\"other@debug\"]\n" +
      "enabled = true\n",
    install: "[plugins.\"sample@debug\"]\n" +
      "enabled = true # turned off: too slow\n" +
      "\n" +
      "[plugins.\"other@debug\"]\n" +
      "enabled = true\n",
    uninstall: "\n[plugins.\"other@debug\"]\nenabled = true\n",
    disable: SAME,
    enable: "[plugins.\"sample@debug\"]\n" +
      "enabled = true # turned off: too slow\n" +
      "\n" +
      "[plugins.\"other@debug\"]\n" +
      "enabled = true\n"
  },
  {
    name: "no trailing newline, plugin last",
    input: "[features]\nplugins = true\n\n[plugins.\"sample@debug\"]\nenabled = false",
    install: "[features]\nplugins = true\n\n[plugins.\"sample@debug\"]\nenabled = true\n",
    uninstall: "[features]\nplugins = true\n",
    disable: SAME,
    enable: "[features]\nplugins = true\n\n[plugins.\"sample@debug\"]\nenabled = true\n"
  },
  {
    name: "no trailing newline, plugin absent",
    input: "model = \"o3\"\n\n[features]\nplugins = true",
    install: "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n",
    uninstall: SAME,
    disable: "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n",
    enable: "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n"
  },
  {
    name: "trailing whitespace, indentation, header comment",
    input: "model = \"o3\"   \n" +
      "\n" +
      "  [plugins.\"sample@debug\"]   # hdr  \n" +
      "  enabled   =   false   \n" +
      "\t\n" +
      "  [tui]\n" +
      "  theme = \"dark\"\n",
    install: "model = \"o3\"   \n" +
      "\n" +
      "  [plugins.\"sample@debug\"]   # hdr  \n" +
      "  enabled   =   true   \n" +
      "\t\n" +
      "  [tui]\n" +
      "  theme = \"dark\"\n",
    uninstall: "model = \"o3\"   \n\t\n  [tui]\n  theme = \"dark\"\n",
    disable: SAME,
    enable: "model = \"o3\"   \n" +
      "\n" +
      "  [plugins.\"sample@debug\"]   # hdr  \n" +
      "  enabled   =   true   \n" +
      "\t\n" +
      "  [tui]\n" +
      "  theme = \"dark\"\n"
  },
  {
    name: "multi-line basic string with a look-alike header and a multi-line array",
    input: "instructions = \"\"\"\n" +
      "Always answer in English.\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\"\"\"\n" +
      "notify = [\n" +
      "  \"notify-send\", # [plugins.\"fake@x\"]\n" +
      "  \"Codex\",\n" +
      "]\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n",
    install: "instructions = \"\"\"\n" +
      "Always answer in English.\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\"\"\"\n" +
      "notify = [\n" +
      "  \"notify-send\", # [plugins.\"fake@x\"]\n" +
      "  \"Codex\",\n" +
      "]\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n",
    uninstall: SAME,
    disable: "instructions = \"\"\"\n" +
      "Always answer in English.\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\"\"\"\n" +
      "notify = [\n" +
      "  \"notify-send\", # [plugins.\"fake@x\"]\n" +
      "  \"Codex\",\n" +
      "]\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n",
    enable: "instructions = \"\"\"\n" +
      "Always answer in English.\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\"\"\"\n" +
      "notify = [\n" +
      "  \"notify-send\", # [plugins.\"fake@x\"]\n" +
      "  \"Codex\",\n" +
      "]\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n"
  },
  {
    name: "multi-line literal string with a look-alike header, plugin present after it",
    input: "developer_instructions = '''\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "'''\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[shell_environment_policy]\n" +
      "inherit = \"core\"\n",
    install: "developer_instructions = '''\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "'''\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[shell_environment_policy]\n" +
      "inherit = \"core\"\n",
    uninstall: "developer_instructions = '''\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "'''\n" +
      "\n" +
      "[shell_environment_policy]\n" +
      "inherit = \"core\"\n",
    disable: SAME,
    enable: "developer_instructions = '''\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "'''\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[shell_environment_policy]\n" +
      "inherit = \"core\"\n"
  },
  {
    name: "CRLF line endings, plugin present",
    deviation: "crlf",
    input: "model = \"o3\"\r\n" +
      "\r\n" +
      "[features]\r\n" +
      "plugins = true\r\n" +
      "\r\n" +
      "[plugins.\"sample@debug\"]\r\n" +
      "enabled = false # keep\r\n" +
      "foo = 1\r\n" +
      "\r\n" +
      "# next\r\n" +
      "[mcp_servers.x]\r\n" +
      "command = \"x\"\r\n",
    install: "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true # keep\n" +
      "\n" +
      "# next\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n",
    uninstall: "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "# next\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n",
    disable: SAME,
    enable: "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true # keep\n" +
      "foo = 1\n" +
      "\n" +
      "# next\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n"
  },
  {
    name: "CRLF line endings, plugin absent",
    deviation: "crlf",
    input: "# cfg\r\n" +
      "model = \"o3\"\r\n" +
      "\r\n" +
      "[features]\r\n" +
      "plugins = true\r\n" +
      "\r\n" +
      "# servers\r\n" +
      "[mcp_servers.x]\r\n" +
      "command = \"x\"\r\n",
    install: "# cfg\n" +
      "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "# servers\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n",
    uninstall: SAME,
    disable: "# cfg\n" +
      "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "# servers\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n",
    enable: "# cfg\n" +
      "model = \"o3\"\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "# servers\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n"
  },
  {
    name: "plugin table after unrelated tables (moves on install)",
    input: "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n" +
      "\n" +
      "# sample\n" +
      "[plugins.\"sample@debug\"] # hdr\n" +
      "# before enabled\n" +
      "enabled = false # c\n" +
      "foo = 1\n",
    install: "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "# sample\n" +
      "[plugins.\"sample@debug\"] # hdr\n" +
      "# before enabled\n" +
      "enabled = true # c\n" +
      "\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n",
    uninstall: "[plugins.\"alpha@market\"]\nenabled = true\n\n[mcp_servers.x]\ncommand = \"x\"\n",
    disable: SAME,
    enable: "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[mcp_servers.x]\n" +
      "command = \"x\"\n" +
      "\n" +
      "# sample\n" +
      "[plugins.\"sample@debug\"] # hdr\n" +
      "# before enabled\n" +
      "enabled = true # c\n" +
      "foo = 1\n"
  },
  {
    name: "sub-table declared after a sibling (toml_edit table order)",
    input: "[mcp_servers.a]\n" +
      "command = \"a\"\n" +
      "\n" +
      "[profiles.x]\n" +
      "model = \"o3\"\n" +
      "\n" +
      "[mcp_servers.a.env]\n" +
      "KEY = \"v\"\n",
    install: "[mcp_servers.a]\n" +
      "command = \"a\"\n" +
      "\n" +
      "[profiles.x]\n" +
      "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[mcp_servers.a.env]\n" +
      "KEY = \"v\"\n",
    uninstall: SAME,
    disable: "[mcp_servers.a]\n" +
      "command = \"a\"\n" +
      "\n" +
      "[profiles.x]\n" +
      "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[mcp_servers.a.env]\n" +
      "KEY = \"v\"\n",
    enable: "[mcp_servers.a]\n" +
      "command = \"a\"\n" +
      "\n" +
      "[profiles.x]\n" +
      "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[mcp_servers.a.env]\n" +
      "KEY = \"v\"\n"
  },
  {
    name: "comment-only file",
    input: "# Codex config\n# (managed by hand)\n",
    install: "[plugins.\"sample@debug\"]\nenabled = true\n# Codex config\n# (managed by hand)\n",
    uninstall: SAME,
    disable: "[plugins.\"sample@debug\"]\nenabled = false\n# Codex config\n# (managed by hand)\n",
    enable: "[plugins.\"sample@debug\"]\nenabled = true\n# Codex config\n# (managed by hand)\n"
  },
  {
    name: "whitespace-only file",
    input: "\n\n",
    install: "[plugins.\"sample@debug\"]\nenabled = true\n\n\n",
    uninstall: SAME,
    disable: "[plugins.\"sample@debug\"]\nenabled = false\n\n\n",
    enable: "[plugins.\"sample@debug\"]\nenabled = true\n\n\n"
  },
  {
    name: "only a plugin sub-table (implicit plugin table)",
    input: "model = \"o3\"\n\n[plugins.\"sample@debug\".mcp_servers.s]\nenabled = false\n",
    install: "model = \"o3\"\n\n[plugins.\"sample@debug\"]\nenabled = true\n",
    uninstall: "model = \"o3\"\n",
    disable: "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[plugins.\"sample@debug\".mcp_servers.s]\n" +
      "enabled = false\n",
    enable: "model = \"o3\"\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"sample@debug\".mcp_servers.s]\n" +
      "enabled = false\n"
  },
  {
    name: "explicit [plugins] table with an inline entry for another plugin",
    input: "[plugins]\n\"other@debug\" = { enabled = true }\n\n[features]\nplugins = true\n",
    install: "[plugins]\n" +
      "\"other@debug\" = { enabled = true }\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n",
    uninstall: SAME,
    disable: "[plugins]\n" +
      "\"other@debug\" = { enabled = true }\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n",
    enable: "[plugins]\n" +
      "\"other@debug\" = { enabled = true }\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[features]\n" +
      "plugins = true\n"
  },
  {
    name: "odd header spacing and literal-quoted ids",
    input: "[ plugins . 'alpha@market' ]\nenabled = true\n",
    install: "[ plugins . 'alpha@market' ]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins .\"sample@debug\"]\n" +
      "enabled = true\n",
    uninstall: SAME,
    disable: "[ plugins . 'alpha@market' ]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins .\"sample@debug\"]\n" +
      "enabled = false\n",
    enable: "[ plugins . 'alpha@market' ]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins .\"sample@debug\"]\n" +
      "enabled = true\n"
  },
  {
    name: "literal-quoted id of the target plugin",
    input: "[plugins.'sample@debug']\nenabled=false\n",
    install: "[plugins.'sample@debug']\nenabled=true\n",
    uninstall: "",
    disable: SAME,
    enable: "[plugins.'sample@debug']\nenabled=true\n"
  },
  {
    name: "plugin table without enabled key",
    input: "[plugins.\"sample@debug\"]\nfoo = 1\n\n# c\n[x]\ny = 2\n",
    install: "[plugins.\"sample@debug\"]\nenabled = true\n\n# c\n[x]\ny = 2\n",
    uninstall: "\n# c\n[x]\ny = 2\n",
    disable: "[plugins.\"sample@debug\"]\nfoo = 1\nenabled = false\n\n# c\n[x]\ny = 2\n",
    enable: "[plugins.\"sample@debug\"]\nfoo = 1\nenabled = true\n\n# c\n[x]\ny = 2\n"
  },
  {
    name: "other plugin defined with root dotted keys",
    input: "plugins.\"other@debug\".enabled = true\n",
    install: "plugins.\"other@debug\".enabled = true\n\n[plugins.\"sample@debug\"]\nenabled = true\n",
    uninstall: SAME,
    disable: "plugins.\"other@debug\".enabled = true\n\n[plugins.\"sample@debug\"]\nenabled = false\n",
    enable: "plugins.\"other@debug\".enabled = true\n\n[plugins.\"sample@debug\"]\nenabled = true\n"
  },
  {
    name: "trailing comment at end of file after the plugin table",
    input: "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "extra = [1, 2]\n" +
      "\n" +
      "# end of file\n",
    install: "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "# end of file\n",
    uninstall: "[features]\nplugins = true\n\n# end of file\n",
    disable: "[features]\n" +
      "plugins = true\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "extra = [1, 2]\n" +
      "\n" +
      "# end of file\n",
    enable: SAME
  },
  {
    name: "plugin already installed exactly",
    input: "[plugins.\"sample@debug\"]\nenabled = true\n",
    install: SAME,
    uninstall: "",
    disable: "[plugins.\"sample@debug\"]\nenabled = false\n",
    enable: SAME
  },
  {
    name: "chatgpt_base_url, profiles and arrays of tables",
    input: "chatgpt_base_url = \"https://chatgpt.com/backend-api/\"\n" +
      "profile = \"work\"\n" +
      "\n" +
      "[[skills.config]]\n" +
      "path = \"/x\"\n" +
      "enabled = false\n" +
      "\n" +
      "[[skills.config]]\n" +
      "path = \"/y\"\n" +
      "enabled = false\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[profiles.work]\n" +
      "model = \"o3\"\n",
    install: SAME,
    uninstall: "chatgpt_base_url = \"https://chatgpt.com/backend-api/\"\n" +
      "profile = \"work\"\n" +
      "\n" +
      "[[skills.config]]\n" +
      "path = \"/x\"\n" +
      "enabled = false\n" +
      "\n" +
      "[[skills.config]]\n" +
      "path = \"/y\"\n" +
      "enabled = false\n" +
      "\n" +
      "[profiles.work]\n" +
      "model = \"o3\"\n",
    disable: "chatgpt_base_url = \"https://chatgpt.com/backend-api/\"\n" +
      "profile = \"work\"\n" +
      "\n" +
      "[[skills.config]]\n" +
      "path = \"/x\"\n" +
      "enabled = false\n" +
      "\n" +
      "[[skills.config]]\n" +
      "path = \"/y\"\n" +
      "enabled = false\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[profiles.work]\n" +
      "model = \"o3\"\n",
    enable: SAME
  },
  {
    name: "plugin table with dotted keys in its body",
    input: "[plugins.\"sample@debug\"]\n" +
      "mcp_servers.s.enabled = false\n" +
      "enabled = false\n" +
      "\n" +
      "[tui]\n" +
      "x = 1\n",
    install: "[plugins.\"sample@debug\"]\nenabled = true\n\n[tui]\nx = 1\n",
    uninstall: "\n[tui]\nx = 1\n",
    disable: SAME,
    enable: "[plugins.\"sample@debug\"]\n" +
      "mcp_servers.s.enabled = false\n" +
      "enabled = true\n" +
      "\n" +
      "[tui]\n" +
      "x = 1\n"
  },
  {
    name: "sub-table declared before its plugin header (toml_edit table order)",
    input: "[plugins.\"alpha@market\".mcp_servers.s]\n" +
      "x = 1\n" +
      "\n" +
      "[plugins.\"beta@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n",
    install: "[plugins.\"alpha@market\".mcp_servers.s]\n" +
      "x = 1\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"beta@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n",
    uninstall: SAME,
    disable: "[plugins.\"alpha@market\".mcp_servers.s]\n" +
      "x = 1\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = false\n" +
      "\n" +
      "[plugins.\"beta@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n",
    enable: "[plugins.\"alpha@market\".mcp_servers.s]\n" +
      "x = 1\n" +
      "\n" +
      "[plugins.\"sample@debug\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"beta@market\"]\n" +
      "enabled = true\n" +
      "\n" +
      "[plugins.\"alpha@market\"]\n" +
      "enabled = true\n"
  },
  {
    name: "no trailing newline, another table last",
    deviation: "finalNewline",
    input: "[plugins.\"sample@debug\"]\nenabled = false\n\n[tui]\ntheme = \"dark\"",
    install: "[plugins.\"sample@debug\"]\nenabled = true\n\n[tui]\ntheme = \"dark\"\n",
    uninstall: "\n[tui]\ntheme = \"dark\"\n",
    disable: SAME,
    enable: "[plugins.\"sample@debug\"]\nenabled = true\n\n[tui]\ntheme = \"dark\"\n"
  }]

const ID = "sample@debug"
type OperationName = "install" | "uninstall" | "disable" | "enable"
const operations: ReadonlyArray<readonly [OperationName, (text: string) => Result.Result<string, ConfigTomlError>]> = [
  ["install", (text) => replacePluginTable(text, ID, true)],
  ["uninstall", (text) => removePluginTable(text, ID)],
  ["disable", (text) => setPluginEnabled(text, ID, false)],
  ["enable", (text) => setPluginEnabled(text, ID, true)]
]

const expectedBytes = (c: CodexCase, expected: Expected): string => {
  const codex = expected === SAME ? c.input : expected
  return c.deviation === "crlf" ? toCrlf(codex) : c.deviation === "finalNewline" ? codex.replace(/\n$/, "") : codex
}

describe("ConfigToml reproduces codex 0.116.0 byte for byte", () => {
  it("the corpus has at least 15 inputs", () => {
    assert.isAtLeast(corpus.length, 15)
  })

  for (const c of corpus) {
    for (const [name, run] of operations) {
      it(`${c.name}: ${name}`, () => {
        const out = ok(run(c.input))
        assert.strictEqual(out, expectedBytes(c, c[name]))
        if (c.deviation === "crlf") assert.notMatch(out, /(?<!\r)\n/)
      })
    }
  }
})

describe("parseConfig", () => {
  it("reads the feature flag, chatgpt_base_url and every plugin entry in file order", () => {
    const parsed = ok(parseConfig(
      "chatgpt_base_url = \"https://example.test/backend-api/\"\n\n[features]\nplugins = true\n\n" +
        "[plugins.\"b@m\"]\nenabled = false\n\n[plugins.\"a@m\"]\nnote = \"no enabled key\"\n\n" +
        "[plugins.\"c@m\".mcp_servers.s]\nx = 1\n\n[plugins.'d@m']\nenabled = true\n"
    ))
    assert.strictEqual(parsed.pluginsFeature, true)
    assert.strictEqual(parsed.chatgptBaseUrl, "https://example.test/backend-api/")
    assert.deepStrictEqual([...parsed.plugins], [
      ["b@m", { enabled: false }],
      ["a@m", { enabled: undefined }],
      ["c@m", { enabled: undefined }],
      ["d@m", { enabled: true }]
    ])
  })

  it("an empty (or missing) file has no settings", () => {
    const parsed = ok(parseConfig(""))
    assert.strictEqual(parsed.pluginsFeature, undefined)
    assert.strictEqual(parsed.chatgptBaseUrl, undefined)
    assert.strictEqual(parsed.plugins.size, 0)
  })

  it("lists inline and dotted plugin entries too", () => {
    const parsed = ok(parseConfig("plugins = { \"x@y\" = { enabled = true }, \"z@y\" = { enabled = false } }\n"))
    assert.deepStrictEqual([...parsed.plugins], [["x@y", { enabled: true }], ["z@y", { enabled: false }]])
    const dotted = ok(parseConfig("[plugins]\n\"x@y\".enabled = false\n"))
    assert.deepStrictEqual([...dotted.plugins], [["x@y", { enabled: false }]])
  })

  it("reads mistyped values as absent, like Codex ignores an invalid plugins config", () => {
    const parsed = ok(parseConfig(
      "chatgpt_base_url = 42\n[features]\nplugins = \"yes\"\n[plugins.\"x@y\"]\nenabled = \"no\"\n"
    ))
    assert.strictEqual(parsed.pluginsFeature, undefined)
    assert.strictEqual(parsed.chatgptBaseUrl, undefined)
    assert.deepStrictEqual([...parsed.plugins], [["x@y", { enabled: undefined }]])
  })

  it("does not mistake headers inside multi-line strings or arrays for tables", () => {
    const text = "a = \"\"\"\n[plugins.\"x@y\"]\nenabled = true\n\"\"\"\nb = '''\n[plugins.\"z@y\"]\n'''\n" +
      "c = [\n  \"[plugins.\\\"w@y\\\"]\", # [plugins.\"v@y\"]\n]\n"
    assert.strictEqual(ok(parseConfig(text)).plugins.size, 0)
    assert.strictEqual(ok(removePluginTable(text, "x@y")), text)
    assert.strictEqual(ok(setPluginEnabled(text, "x@y", false)), `${text}\n[plugins."x@y"]\nenabled = false\n`)
  })

  it("reports unparsable TOML with its position, and never rewrites it", () => {
    const text = "[features]\nplugins = true\n[plugins.\"x@y\"\nenabled = true\n"
    const error = failure(parseConfig(text))
    assert.strictEqual(error._tag, "ConfigTomlError")
    assert.strictEqual(error.reason, "Unparsable")
    assert.match(error.message, /line 3/)
    for (const run of [
      replacePluginTable(text, "x@y", true),
      setPluginEnabled(text, "x@y", true),
      removePluginTable(text, "x@y")
    ]) {
      assert.strictEqual(failure(run).reason, "Unparsable")
    }
  })
})

describe("edits", () => {
  it("a no-op edit returns the text unchanged", () => {
    const text = "# mine\r\n[plugins.\"x@y\"]   \r\nenabled   = true # on\r\n"
    assert.strictEqual(ok(replacePluginTable(text, "x@y", true)), text)
    assert.strictEqual(ok(setPluginEnabled(text, "x@y", true)), text)
    assert.strictEqual(ok(removePluginTable(text, "other@y")), text)
    assert.strictEqual(ok(removePluginTable("", "x@y")), "")
  })

  it("an edit right after another of the same text (remembered) differs by operation, value and plugin", () => {
    // the last edit and the last documents parsed are remembered: each question must still get its own answer
    const text = "[plugins.\"x@y\"]\nenabled = true\nnote = \"n\"\n"
    assert.strictEqual(ok(setPluginEnabled(text, "x@y", false)), "[plugins.\"x@y\"]\nenabled = false\nnote = \"n\"\n")
    assert.strictEqual(ok(setPluginEnabled(text, "x@y", false)), "[plugins.\"x@y\"]\nenabled = false\nnote = \"n\"\n")
    assert.strictEqual(ok(replacePluginTable(text, "x@y", false)), "[plugins.\"x@y\"]\nenabled = false\n")
    assert.strictEqual(ok(setPluginEnabled(text, "x@y", true)), text)
    assert.strictEqual(ok(setPluginEnabled(text, "a@y", false)), `${text}\n[plugins."a@y"]\nenabled = false\n`)
    assert.strictEqual(ok(removePluginTable(text, "x@y")), "")
    const edited = ok(setPluginEnabled(text, "x@y", false))
    assert.deepStrictEqual(ok(parseConfig(edited)).plugins.get("x@y"), { enabled: false })
    assert.deepStrictEqual(ok(parseConfig(text)).plugins.get("x@y"), { enabled: true })
  })

  it("replace drops other keys and sub-tables; set keeps them", () => {
    const text = "[plugins.\"x@y\"]\nenabled = true\nnote = \"n\"\n\n[plugins.\"x@y\".mcp_servers.s]\nenabled = false\n"
    assert.strictEqual(ok(replacePluginTable(text, "x@y", false)), "[plugins.\"x@y\"]\nenabled = false\n")
    assert.strictEqual(
      ok(setPluginEnabled(text, "x@y", false)),
      "[plugins.\"x@y\"]\nenabled = false\nnote = \"n\"\n\n[plugins.\"x@y\".mcp_servers.s]\nenabled = false\n"
    )
  })

  it("inserted lines follow the file's CRLF line endings", () => {
    const out = ok(setPluginEnabled("[features]\r\nplugins = true\r\n", "x@y", false))
    assert.strictEqual(out, "[features]\r\nplugins = true\r\n\r\n[plugins.\"x@y\"]\r\nenabled = false\r\n")
  })

  it("quotes plugin ids the way toml_edit writes keys", () => {
    assert.strictEqual(ok(replacePluginTable("", "bare-id", true)), "[plugins.bare-id]\nenabled = true\n")
    const quoted = ok(replacePluginTable("", "say \"hi\"@m", true))
    assert.strictEqual(quoted, "[plugins.'say \"hi\"@m']\nenabled = true\n")
    assert.deepStrictEqual([...ok(parseConfig(quoted)).plugins], [["say \"hi\"@m", { enabled: true }]])
  })

  const inlineLayouts: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["root inline table", "plugins = { \"x@y\" = { enabled = false } }\n", /`plugins` is defined inline/],
    ["inline table in [plugins]", "[plugins]\n\"x@y\" = { enabled = false } # c\n", /`x@y` is defined as an inline/],
    ["root dotted keys", "plugins.\"x@y\".enabled = false\n", /`x@y` is defined with dotted keys/],
    ["dotted keys in [plugins]", "[plugins]\n\"x@y\".enabled = false\n", /`x@y` is defined with dotted keys/]
  ]
  for (const [name, text, message] of inlineLayouts) {
    it(`refuses to rewrite a plugin defined by ${name}`, () => {
      for (const run of [
        replacePluginTable(text, "x@y", true),
        setPluginEnabled(text, "x@y", true),
        removePluginTable(text, "x@y")
      ]) {
        const error = failure(run)
        assert.strictEqual(error.reason, "UnsupportedLayout")
        assert.match(error.message, message)
      }
      // nothing to change: no rewrite needed
      assert.strictEqual(ok(setPluginEnabled(text, "x@y", false)), text)
    })
  }

  it("refuses to add a table next to `plugins = { ... }`", () => {
    const error = failure(replacePluginTable("plugins = { \"x@y\" = { enabled = true } }\n", "new@y", true))
    assert.strictEqual(error.reason, "UnsupportedLayout")
  })

  it("refuses when the edited file would not parse to exactly the intended change", () => {
    const error = failure(setPluginEnabled("[plugins.\"x@y\"]\nenabled.by = \"hand\"\n", "x@y", false))
    assert.strictEqual(error.reason, "UnsupportedLayout")
    assert.match(error.message, /x@y/)
  })
})

// Bytes outside `[plugins."…"]` tables: drops each such table with its leading comment/blank lines (toml_edit's
// table decor); tracks multi-line strings so a look-alike header inside one is kept.
const outsidePluginTables = (text: string): string => {
  let out = ""
  let pending = ""
  let dropping = false
  let inString: string | undefined
  for (const line of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    if (inString !== undefined) {
      if (line.includes(inString)) inString = undefined
      if (!dropping) out += line
      continue
    }
    const trimmed = line.trim()
    if (trimmed === "" || trimmed.startsWith("#")) {
      pending += line
      continue
    }
    if (trimmed.startsWith("[")) dropping = /^\[\s*plugins\s*\.\s*("[^"]*"|'[^']*'|[\w-]+)/.test(trimmed)
    if (!dropping) out += pending + line
    pending = ""
    const quotes = line.match(/"""|'''/g) ?? []
    if (quotes.length % 2 === 1) inString = quotes[0]
  }
  return out + pending
}

const propertyBases: ReadonlyArray<string> = [
  "",
  "[features]\nplugins = true\n",
  "# only a comment\n",
  "# Codex configuration\nmodel = \"gpt-5\"   # default\nchatgpt_base_url = \"https://chatgpt.com/backend-api/\"\n" +
    "instructions = \"\"\"\nBe brief.\n[plugins.\"sample@debug\"]\nenabled = false\n\"\"\"\n" +
    "notify = [\n  \"notify-send\", # [plugins.\"fake@x\"]\n  \"Codex\",\n]\n\n[features]\nplugins = true\n\n" +
    "[plugins.\"alpha@market\"]\nenabled = true\n\n# docs server\n[mcp_servers.docs]\ncommand = \"npx\"\n" +
    "env = { LOG_LEVEL = \"warn\" }\n\n[profiles.fast]\nmodel = \"gpt-5-mini\"\n",
  "model = \"o3\"\r\n\r\n[features]\r\nplugins = false\r\n\r\n" +
    "[plugins.\"sample@debug\"]\r\nenabled = false # keep\r\nfoo = 1\r\n\r\n" +
    "# next\r\n[mcp_servers.x]\r\ncommand = \"x\"\r\n",
  "[plugins.\"alpha@market\"]\nenabled = false\nnote = \"x\"\n\n# alpha servers\n" +
    "[plugins.\"alpha@market\".mcp_servers.s]\nenabled = false\n\n[mcp_servers.x]\ncommand = \"x\"\n\n" +
    "# beta\n[plugins.\"beta@market\"] # hdr\nenabled = true\n\n[tui]\ntheme = \"dark\"\n\n# the end\n",
  "[mcp_servers.a]\ncommand = \"a\"\n\n[profiles.x]\nmodel = \"o3\"\n\n[mcp_servers.a.env]\nKEY = \"v\"\n"
]

describe("property: random edit sequences", () => {
  it("always parse to the expected model and leave everything outside plugin tables untouched", () => {
    const step = fc.record({
      op: fc.constantFrom("replace", "set", "remove"),
      id: fc.constantFrom("sample@debug", "alpha@market", "beta@market", "fresh@x"),
      enabled: fc.boolean()
    })
    fc.assert(
      fc.property(fc.constantFrom(...propertyBases), fc.array(step, { maxLength: 8 }), (base, steps) => {
        const initial = ok(parseConfig(base))
        const model = new Map<string, PluginConfigEntry>(initial.plugins)
        let text = base
        for (const { enabled, id, op } of steps) {
          text = ok(
            op === "replace"
              ? replacePluginTable(text, id, enabled)
              : op === "set"
              ? setPluginEnabled(text, id, enabled)
              : removePluginTable(text, id)
          )
          if (op === "remove") model.delete(id)
          else model.set(id, { enabled })
          const parsed = ok(parseConfig(text))
          const byId = (a: readonly [string, PluginConfigEntry], b: readonly [string, PluginConfigEntry]) =>
            a[0].localeCompare(b[0])
          assert.deepStrictEqual([...parsed.plugins].sort(byId), [...model].sort(byId))
          assert.strictEqual(parsed.pluginsFeature, initial.pluginsFeature)
          assert.strictEqual(parsed.chatgptBaseUrl, initial.chatgptBaseUrl)
          assert.strictEqual(outsidePluginTables(text), outsidePluginTables(base))
          if (base.includes("\r\n")) assert.notMatch(text, /(?<!\r)\n/)
        }
      }),
      { numRuns: 300 }
    )
  })
})

describe("property: edits of a text the last edit produced", () => {
  const run = runTomlEdit
  const outcome = editOutcome
  const edit = tomlEdits

  it("(lines carried over from the edit) give what they give after a full scan, on random layouts", () => {
    fc.assert(
      fc.property(tomlLayouts, edit, edit, (base, first, second) => {
        // edited right after the edit that produced it: its lines are carried over
        const produced = run(base, first)
        const carried = Result.isSuccess(produced) ? outcome(run(produced.success, second)) : undefined
        // the same two edits, with an unrelated edit in between: what the first produced is scanned again
        const again = run(base, first)
        ok(replacePluginTable("[tui]\nx = 1\n", "other@x", true))
        const scanned = Result.isSuccess(again) ? outcome(run(again.success, second)) : undefined
        assert.strictEqual(carried, scanned)
      }),
      { seed: seedFor("ConfigToml carried lines"), numRuns: scaled(1_000, 30_000) }
    )
  })
})
