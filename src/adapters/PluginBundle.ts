import { Context, Effect, FileSystem, Layer, Option, Path, Result, Schema } from "effect"
import * as NodeFs from "node:fs"
import { type DecodedManifest } from "../domain/Manifest.ts"
import { compareUtf8, comparePaths, isWithin } from "../domain/PathRules.ts"
import { readManifestSync } from "./ManifestFile.ts"
import { type AppSummary, appSummaries, type NormalizedMcpServer, normalizedMcpServers } from "./McpAppFiles.ts"
import { parseSkill, type SkillSummary } from "./SkillFile.ts"

export interface PluginBundleContents {
  readonly root: string
  readonly manifest: DecodedManifest["manifest"]
  /** what codex would log at WARN while loading this plugin */
  readonly warnings: ReadonlyArray<string>
  readonly skills: ReadonlyArray<SkillSummary>
  /** sorted names of the MCP servers that pass codex's config validation */
  readonly mcpServers: ReadonlyArray<string>
  /** the same servers normalized as Codex loads them (for the capability answer) */
  readonly mcpServerConfigs: ReadonlyArray<NormalizedMcpServer>
  /** codex `skill_roots`: `<root>/skills` when it is a directory, plus the manifest's `skills` path; sorted, unique */
  readonly skillRoots: ReadonlyArray<string>
  /** sorted by id, blank ids dropped, duplicates removed */
  readonly apps: ReadonlyArray<AppSummary>
}

export class PluginBundleError extends Schema.TaggedError<PluginBundleError>()("PluginBundleError", {
  reason: Schema.Literal("MissingManifest"),
  root: Schema.String,
  message: Schema.String
}) {}

export const MISSING_MANIFEST = "missing or invalid .codex-plugin/plugin.json"
const MAX_SCAN_DEPTH = 6
const MAX_SKILL_DIRS = 2000

// The service

export interface PluginBundleShape {
  /** The decoded manifest of the plugin at `root` (missing, unreadable, invalid or outside the root → error). */
  readonly readManifest: (root: string) => Effect.Effect<DecodedManifest, PluginBundleError>
  /** Manifest, skills, MCP server names and apps, as `plugin/read` reports them. */
  readonly read: (root: string) => Effect.Effect<PluginBundleContents, PluginBundleError>
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const make = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  // realpath(3), one request on the thread pool: the platform's `realPath` is Node's callback `fs.realpath`, which on
  // Linux walks the path in JavaScript with an async `lstat` per component (~12 for a bundle in the cache)
  const realPath = (p: string) => Effect.tryPromise(() => NodeFs.promises.realpath(p)).pipe(Effect.option)
  // Rust `read_to_string`: strict UTF-8 and a BOM is kept (serde then rejects it), unlike `readFileString`
  const readUtf8 = (p: string) =>
    fs.readFile(p).pipe(Effect.flatMap((bytes) => Effect.try(() => STRICT_UTF8.decode(bytes))), Effect.option)
  /** the real path of `p` if it exists and stays inside `realRoot` (symlinks never lead out of the root) */
  const inside = Effect.fnUntraced(function*(realRoot: string, p: string) {
    const real = yield* realPath(p)
    return Option.filter(real, (r) => isWithin(realRoot, r))
  })
  const readText = Effect.fnUntraced(function*(realRoot: string, p: string) {
    const real = yield* inside(realRoot, p)
    if (Option.isNone(real)) return Option.none<string>()
    const info = yield* fs.stat(real.value).pipe(Effect.option)
    if (Option.isNone(info) || info.value.type !== "File") return Option.none<string>()
    return yield* readUtf8(real.value)
  })

  const rootOf = Effect.fnUntraced(function*(root: string) {
    const missing = new PluginBundleError({ reason: "MissingManifest", root, message: MISSING_MANIFEST })
    const realRoot = yield* realPath(root)
    if (Option.isNone(realRoot)) return yield* missing
    const decoded = readManifestSync(root).decoded
    if (decoded === undefined) return yield* missing
    return { realRoot: realRoot.value, decoded }
  })

  const readManifest = Effect.fn("PluginBundle.readManifest")(function*(root: string) {
    const decoded = readManifestSync(root).decoded
    if (decoded === undefined) return yield* new PluginBundleError({ reason: "MissingManifest", root, message: MISSING_MANIFEST })
    return decoded
  })

  const scanSkills = Effect.fnUntraced(function*(
    realRoot: string,
    skillRoot: string,
    namespace: string,
    warnings: Array<string>,
    /** `skillRoot` is a real path inside the root already (a directory the root's listing has) */
    knownReal = false
  ) {
    const start = knownReal ? Option.some(skillRoot) : yield* inside(realRoot, skillRoot)
    if (Option.isNone(start)) return []
    const found: Array<SkillSummary> = []
    const visited = new Set([start.value])
    const queue: Array<readonly [string, number]> = [[start.value, 0]]
    let truncated = false
    const enqueue = (dir: string, depth: number) => {
      if (depth > MAX_SCAN_DEPTH) return
      if (visited.size >= MAX_SKILL_DIRS) {
        truncated = true
        return
      }
      if (!visited.has(dir)) {
        visited.add(dir)
        queue.push([dir, depth])
      }
    }
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [dir, depth] = next
      const entries = yield* fs.readDirectoryEntries(dir).pipe(Effect.orElseSucceed(() => []))
      for (const entry of entries) {
        if (entry.name.startsWith(".")) continue
        const full = path.join(dir, entry.name)
        // `dir` is a real path inside the root: so is a directory in it (no realpath walk, no stat, per directory)
        if (entry.type === "Directory") {
          enqueue(full, depth + 1)
          continue
        }
        if (entry.type === "SymbolicLink") {
          // followed only while the target stays inside the plugin root; symlinked SKILL.md files are skipped
          const real = yield* inside(realRoot, full)
          if (Option.isNone(real)) continue
          const info = yield* fs.stat(real.value).pipe(Effect.option)
          if (Option.isSome(info) && info.value.type === "Directory") enqueue(real.value, depth + 1)
          continue
        }
        if (entry.type !== "File" || entry.name !== "SKILL.md") continue
        const contents = yield* readUtf8(full)
        if (Option.isNone(contents)) continue
        // looked for only when the listing has `agents` (a failed lookup is a thrown error, per skill and per read)
        const yamlText = entries.some((e) => e.name.toLowerCase() === "agents")
          ? yield* readText(realRoot, path.join(dir, "agents", "openai.yaml"))
          : Option.none<string>()
        const skill = parseSkill(contents.value, full, namespace, Option.getOrNull(yamlText), warnings)
        if (Result.isFailure(skill)) warnings.push(`failed to load skill ${full}: ${skill.failure}`)
        else found.push(skill.success)
      }
    }
    if (truncated) warnings.push(`skills scan truncated after ${MAX_SKILL_DIRS} directories (root: ${start.value})`)
    return found
  })

  const read = Effect.fn("PluginBundle.read")(function*(root: string) {
    const { decoded, realRoot } = yield* rootOf(root)
    const { manifest } = decoded
    const warnings = [...decoded.warnings]
    // the default files and `skills` dir are looked for only when the root's listing has them: a lookup of a missing
    // one is a failed system call and a thrown error, and most plugins lack some (this runs after every install).
    // Names compared without case, so a case-insensitive file system (macOS) still finds what a lookup would
    const rootEntries = yield* fs.readDirectoryEntries(root).pipe(Effect.orElseSucceed(() => []))
    const listed = new Set(rootEntries.map((e) => e.name.toLowerCase()))
    // a plain file or directory of the root, listed under exactly this name: its real path is the root's joined with
    // it, with no realpath walk (a lookup per path component) or stat of its own
    const plain = (name: string, type: "File" | "Directory") => rootEntries.some((e) => e.name === name && e.type === type)
    const skillsPlain = plain("skills", "Directory")
    const scanRoots: Array<readonly [string, boolean]> = [
      ...(listed.has("skills") ? [[path.join(realRoot, "skills"), skillsPlain] as const] : []),
      ...(manifest.skills === null ? [] : [[manifest.skills, false] as const])
    ]
    const scanned = (yield* Effect.forEach(scanRoots, ([r, known]) => scanSkills(realRoot, r, manifest.name, warnings, known))).flat()
    // a SKILL.md reached twice (both roots, or through a symlink) is listed once; then by name, then path
    const unique = new Map(scanned.map((s) => [s.path, s] as const).reverse())
    const skills = [...unique.values()].sort((a, b) => compareUtf8(a.name, b.name) || comparePaths(a.path, b.path))
    // the manifest file wins; the default is read only when the manifest gives no (valid) path
    const readDefault = (name: string) =>
      !listed.has(name)
        ? Effect.succeed(Option.none<string>())
        : plain(name, "File")
        ? readUtf8(path.join(realRoot, name))
        : readText(realRoot, path.join(root, name))
    const mcpFile = manifest.mcpServers ?? path.join(root, ".mcp.json")
    const mcpText = yield* (manifest.mcpServers === null ? readDefault(".mcp.json") : readText(realRoot, mcpFile))
    const mcpServerConfigs = Option.isSome(mcpText) ? normalizedMcpServers(mcpText.value, mcpFile, root, warnings) : []
    const mcpServers = mcpServerConfigs.map((s) => s.name)
    const appText = yield* (manifest.apps === null ? readDefault(".app.json") : readText(realRoot, manifest.apps))
    const apps = Option.isSome(appText) ? appSummaries(appText.value, warnings) : []
    const defaultSkills = path.join(root, "skills")
    const skillsDir = skillsPlain || (listed.has("skills") &&
      (yield* fs.stat(defaultSkills).pipe(Effect.map((i) => i.type === "Directory"), Effect.orElseSucceed(() => false))))
    const skillRoots = [...new Set([...(skillsDir ? [defaultSkills] : []), ...(manifest.skills === null ? [] : [manifest.skills])])]
      .sort(comparePaths)
    return { root, manifest, warnings, skills, mcpServers, mcpServerConfigs, skillRoots, apps }
  })

  return PluginBundle.of({ readManifest, read })
})

/** Reads plugin roots from disk. Needs `FileSystem` and `Path` only to be built. */
export class PluginBundle extends Context.Service<PluginBundle, PluginBundleShape>()("plugin-ledger/adapters/PluginBundle") {
  static readonly make: Effect.Effect<PluginBundleShape, never, FileSystem.FileSystem | Path.Path> = make
  static readonly layer: Layer.Layer<PluginBundle, never, FileSystem.FileSystem | Path.Path> = Layer.effect(PluginBundle, make)
}
