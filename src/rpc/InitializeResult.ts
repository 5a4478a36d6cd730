/**
 * The answer to `initialize`: the reference's `{userAgent, platformFamily, platformOs}` with our name in the
 * user agent. No Effect dependency: `serve` answers `initialize` with it before the engine is loaded.
 */
import * as Os from "node:os"

export const serverVersion = "0.1.0"

export interface ClientInfo {
  readonly name: string
  readonly title: string | null
  readonly version: string
}

export interface InitializeResult {
  readonly userAgent: string
  readonly platformFamily: "windows" | "unix"
  readonly platformOs: string
}

/** Rust's `std::env::consts::OS` spelling, as the reference reports it. */
const platformOs = (): string => {
  switch (process.platform) {
    case "darwin":
      return "macos"
    case "win32":
      return "windows"
    default:
      return process.platform
  }
}

export const initializeResult = (client: ClientInfo): InitializeResult => ({
  userAgent: `${client.name}/${serverVersion} (plugin-ledger; ${Os.type()} ${Os.release()}; ${Os.arch()}) (${client.name}; ${client.version})`,
  platformFamily: process.platform === "win32" ? "windows" : "unix",
  platformOs: platformOs()
})
