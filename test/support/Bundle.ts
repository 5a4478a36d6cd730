/**
 * Child scripts of the crash suites bundled into one minified ESM file (as `npm run build` bundles the CLI): a
 * process then starts in ~30 ms instead of ~150 ms for the TypeScript sources, which is what makes hundreds of
 * SIGKILLs per commit affordable. The bundle holds the same `src/` code; it is built once per test file.
 *
 * Dynamic imports are inlined (the CLI's entry loads the commands lazily; one file keeps the cache simple).
 *
 * Bundles are kept by content hash in one shared temp dir (like the compile cache beside it): test workers are
 * killed without an exit hook, so per-run dirs would pile up, and equal code is written once.
 */
import { createHash, randomBytes } from "node:crypto"
import * as NodeFs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { build } from "rolldown"

const outDir = Path.join(Os.tmpdir(), "plugin-ledger-test-bundles")
const built = new Map<string, Promise<string>>()

const bundle = async (entry: string): Promise<string> => {
  const { output } = await build({ input: entry, platform: "node", logLevel: "silent", write: false, output: { format: "esm", minify: true, inlineDynamicImports: true } })
  const code = output[0].code
  const hash = createHash("sha256").update(code).digest("hex").slice(0, 16)
  const file = Path.join(outDir, `${Path.basename(entry, ".ts")}-${hash}.mjs`)
  if (!NodeFs.existsSync(file)) {
    NodeFs.mkdirSync(outDir, { recursive: true })
    // temp + rename: another test process may be writing the same bundle right now
    const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`
    NodeFs.writeFileSync(temp, code)
    NodeFs.renameSync(temp, file)
  }
  return file
}

/** The path of a bundle of `entry` (built on first use). */
export const bundled = (entry: string): Promise<string> => {
  const existing = built.get(entry)
  if (existing !== undefined) return existing
  const promise = bundle(entry)
  built.set(entry, promise)
  return promise
}
