#!/usr/bin/env node
// Launcher. Runs the single-file bundle `dist/cli/main.mjs` (built by `npm run build`, which `npm install`
// runs) with Node's compile cache, so `serve` starts fast; falls back to the TypeScript sources (Node >= 22.22
// strips types) when there is no bundle or a source file is newer than it.
import { existsSync, readdirSync, statSync } from "node:fs"
import * as Module from "node:module"
import { fileURLToPath } from "node:url"

Module.enableCompileCache?.()

const bundle = fileURLToPath(new URL("../dist/cli/main.mjs", import.meta.url))
const sources = fileURLToPath(new URL("../src", import.meta.url))

const newestSource = (dir) => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

const useBundle = existsSync(bundle) && (!existsSync(sources) || statSync(bundle).mtimeMs >= newestSource(sources))
await import(useBundle ? "../dist/cli/main.mjs" : "../src/cli/main.ts")
