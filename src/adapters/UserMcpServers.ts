/** The MCP server names the user defines in `config.toml` `[mcp_servers]` (they win over plugin servers). */
import { parse } from "smol-toml"

export const userMcpServerNames = (configText: string): ReadonlySet<string> => {
  if (!configText.includes("mcp_servers")) return new Set()
  try {
    const servers = parse(configText)["mcp_servers"]
    return typeof servers === "object" && servers !== null && !Array.isArray(servers) && !(servers instanceof Date)
      ? new Set(Object.keys(servers))
      : new Set()
  } catch {
    // a config.toml Codex cannot load defines no servers for it either
    return new Set()
  }
}
