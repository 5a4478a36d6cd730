/**
 * The benchmarks run `bin/plugin-ledger.js`, which falls back to the TypeScript sources when `dist/` is older than
 * any of them (a first listing then takes ~3x as long: module loading, no compile cache). A bench run after an edit
 * without `npm run build` would measure that fallback, so the bundle is rebuilt first when it is stale.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const newestMtime = (dir: string): number => {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(file) : fs.statSync(file).mtimeMs)
  }
  return newest
}

/** Rebuilds `dist/` (`npm run build`) unless the bundle is at least as new as every source; says so on `log`. */
export const ensureFreshBundle = (log: (message: string) => void, root = process.cwd()): void => {
  const bundle = path.join(root, "dist", "cli", "main.mjs")
  const bundleMtime = fs.existsSync(bundle) ? fs.statSync(bundle).mtimeMs : 0
  if (bundleMtime >= newestMtime(path.join(root, "src"))) return
  log("dist/ is older than src/: rebuilding the bundle (npm run build) so the bench measures it, not the sources")
  execFileSync("npm", ["run", "-s", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] })
}
