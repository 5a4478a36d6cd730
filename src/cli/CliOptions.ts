/**
 * The command line's options, for `node:util` parseArgs: shared by the entry point (which only needs to know
 * whether this is `serve` and where CODEX_HOME is) and the commands. No Effect dependency.
 */
import type { ParseArgsOptionsConfig } from "node:util"

export const cliOptions = {
  "codex-home": { type: "string" },
  cwd: { type: "string", multiple: true },
  marketplace: { type: "string" },
  limit: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  into: { type: "string" },
  base: { type: "string" },
  "verify-decisions": { type: "boolean", default: false },
  to: { type: "string" },
  at: { type: "string" },
  actor: { type: "string" },
  repair: { type: "boolean", default: false },
  remote: { type: "boolean", default: false },
  curated: { type: "boolean", default: false },
  repo: { type: "string" },
  "request-id": { type: "string" },
  json: { type: "boolean", default: false },
  socket: { type: "string" },
  "log-file": { type: "string" },
  "log-level": { type: "string" },
  arg: { type: "string", multiple: true },
  env: { type: "string", multiple: true },
  workdir: { type: "string" },
  "admin-config": { type: "string" },
  "user-config": { type: "string" },
  user: { type: "string" },
  timeout: { type: "string" },
  "rate-limit": { type: "string" },
  params: { type: "string" },
  credential: { type: "string", multiple: true },
  "credentials-file": { type: "string" },
  help: { type: "boolean", short: "h", default: false }
} as const satisfies ParseArgsOptionsConfig
