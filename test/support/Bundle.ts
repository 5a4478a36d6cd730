/**
 * Child scripts of the crash suites bundled into one minified ESM file (as `npm run build` bundles the CLI): a
 * process then starts in ~30 ms instead of ~150 ms for the TypeScript sources, which is what makes hundreds of
 * SIGKILLs per commit affordable. The bundle holds the same `src/` code; it is built once per test process.
 */
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { build } from "rolldown"

const built = new Map<string, Promise<string>>()
let outDir: string | undefined

/** This module instance's own output dir (a test file's), removed when the process exits. */
const output = (): string => {
  if (outDir !== undefined) return outDir
  const dir = NodeFs.mkdtempSync(Path.join(Os.tmpdir(), "plugin-ledger-test-bundles-"))
  process.once("exit", () => NodeFs.rmSync(dir, { recursive: true, force: true }))
  outDir = dir
  return dir
}

/** The path of a bundle of `entry` (built on first use). */
export const bundled = (entry: string): Promise<string> => {
  const existing = built.get(entry)
  if (existing !== undefined) return existing
  const file = Path.join(output(), `${Path.basename(entry, ".ts")}.mjs`)
  const promise = build({
    input: entry,
    platform: "node",
    logLevel: "silent",
    output: { file, format: "esm", minify: true }
  }).then(() => file)
  built.set(entry, promise)
  return promise
}
