import type { ConfigObservation } from "../domain/ConfigAdoption.ts"
import { describeConfigProblem } from "../services/ConfigProblems.ts"
import { sha256Hex } from "./BlobStore.ts"
import { inspectConfig } from "./ConfigToml.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"

/**
 * Reads config.toml as the adoption of hand edits needs it: hashed, and either its plugin tables or why Codex
 * would refuse it. A missing file is an empty one; other read failures are thrown (Node-style errors).
 */
export const observeConfig = (fs: FsPort, configPath: string): ConfigObservation => {
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(configPath)
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error
    bytes = Buffer.alloc(0)
  }
  return observeConfigBytes(bytes, configPath)
}

/**
 * The bytes hashed last and their hash (a copy: the caller's buffer is its own). After a projection writes
 * config.toml the watcher observes it, and the next command observes the same bytes again under the lock.
 */
let lastHashed: { readonly bytes: Buffer; readonly hash: string } | undefined
const hashOf = (bytes: Buffer): string => {
  if (lastHashed !== undefined && lastHashed.bytes.equals(bytes)) return lastHashed.hash
  const hash = sha256Hex(bytes)
  lastHashed = { bytes: Buffer.from(bytes), hash }
  return hash
}

/** The same for bytes already read (a command reads config.toml once under the lock and shares the bytes). */
export const observeConfigBytes = (bytes: Buffer, configPath: string): ConfigObservation => {
  const hash = hashOf(bytes)
  const text = bytes.toString("utf8")
  const { problem, config } = inspectConfig(text)
  if (problem !== undefined || config === undefined) {
    return { _tag: "Unreadable", hash, message: problem === undefined ? "config.toml is not valid TOML" : describeConfigProblem(problem, configPath, "reload") }
  }
  return { _tag: "Readable", hash, tables: config.plugins }
}
