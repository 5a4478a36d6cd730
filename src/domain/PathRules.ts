import { Result } from "effect"

/** One component of a POSIX path, as Rust's `std::path::Path::components` yields it. */
export type PathComponent =
  | { readonly _tag: "RootDir" }
  | { readonly _tag: "CurDir" }
  | { readonly _tag: "ParentDir" }
  | { readonly _tag: "Normal"; readonly name: string }

const ROOT: PathComponent = { _tag: "RootDir" }
const CUR: PathComponent = { _tag: "CurDir" }
const PARENT: PathComponent = { _tag: "ParentDir" }

export const isAbsolute = (path: string): boolean => path.startsWith("/")

/**
 * Rust `Path::components` on Unix: a leading `/` is `RootDir`, repeated and trailing slashes vanish, `.` is
 * dropped except as the first component of a relative path (`./x` → `[CurDir, x]`, `x/./y` → `[x, y]`).
 */
export const components = (path: string): ReadonlyArray<PathComponent> => {
  const out: Array<PathComponent> = []
  if (isAbsolute(path)) out.push(ROOT)
  const parts = path.split("/")
  parts.forEach((part, index) => {
    if (part === "") return
    if (part === ".") {
      if (index === 0) out.push(CUR)
      return
    }
    out.push(part === ".." ? PARENT : { _tag: "Normal", name: part })
  })
  return out
}

/** What `normalize` would change: an empty, `.` or `..` component, or a trailing slash (`/` alone is normal). */
const UNNORMAL = /\/\/|(?:^|\/)\.\.?(?:\/|$)|.\/$/

/** `path` is its own lexical normalisation (the common case: checked without building anything). */
export const isNormal = (path: string): boolean => path.length > 0 && !UNNORMAL.test(path)

/** Lexical normalisation (`AbsolutePathBuf`): resolves `.` and `..` without touching the file system. */
export const normalize = (path: string): string => {
  if (isNormal(path)) return path
  const absolute = isAbsolute(path)
  const stack: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (stack.length > 0 && stack[stack.length - 1] !== "..") stack.pop()
      else if (!absolute) stack.push("..")
      continue
    }
    stack.push(part)
  }
  const body = stack.join("/")
  return absolute ? `/${body}` : body.length === 0 ? "." : body
}

/** Joins and normalises; an absolute later part replaces what came before, as `PathBuf::push` does. */
export const join = (base: string, ...parts: ReadonlyArray<string>): string =>
  normalize(parts.reduce((acc, part) => (isAbsolute(part) ? part : `${acc}/${part}`), base))

export const dirname = (path: string): string => {
  const normalized = normalize(path)
  const slash = normalized.lastIndexOf("/")
  return slash < 0 ? "." : slash === 0 ? "/" : normalized.slice(0, slash)
}

export const basename = (path: string): string => {
  const normalized = normalize(path)
  return normalized === "/" ? "" : normalized.slice(normalized.lastIndexOf("/") + 1)
}

/** `path` equals `root` or lies below it (both compared after lexical normalisation). */
export const isWithin = (root: string, path: string): boolean => {
  const r = normalize(root)
  const p = normalize(path)
  return p === r || p.startsWith(r === "/" ? "/" : `${r}/`)
}

const encoder = new TextEncoder()

/** Byte-wise UTF-8 comparison, the order Rust uses for `str` and `OsStr`. */
export const compareUtf8 = (a: string, b: string): number => {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1
}

const rank = (c: PathComponent): number =>
  c._tag === "RootDir" ? 0 : c._tag === "CurDir" ? 1 : c._tag === "ParentDir" ? 2 : 3

/**
 * Rust `Ord for Path`: component by component, so `/t/x/y` sorts before `/t/x-y` (verified against the binary's
 * marketplace order: roots `X`, `x/y`, `x-y`, `x.y`, `é`).
 */
export const comparePaths = (a: string, b: string): number => {
  const x = components(a)
  const y = components(b)
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) {
    const l = x[i]
    const r = y[i]
    if (l === undefined || r === undefined) break
    const d = rank(l) - rank(r)
    if (d !== 0) return d < 0 ? -1 : 1
    if (l._tag === "Normal" && r._tag === "Normal") {
      const c = compareUtf8(l.name, r.name)
      if (c !== 0) return c
    }
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1
}

/** Result of a manifest path field: the absolute path, or the warning logged when the value is ignored. */
export interface ManifestPathResolution {
  readonly path?: string
  readonly warning?: string
}

/**
 * codex `resolve_manifest_path` for `skills`, `mcpServers`, `apps`, `interface.composerIcon`, `interface.logo`
 * and `interface.screenshots` (the field name has no index). Verified against 0.116.0: `""` → nothing, no warning;
 * `./a/./b` → `<root>/a/b`; `./x/` → `<root>/x`; `././x`, `./.`, `.//x` → "must stay within the plugin root".
 */
export const resolveManifestPath = (
  pluginRoot: string,
  field: string,
  value: string | null | undefined
): ManifestPathResolution => {
  if (value === undefined || value === null || value.length === 0) return {}
  if (!value.startsWith("./")) {
    return { warning: `ignoring ${field}: path must start with \`./\` relative to plugin root` }
  }
  const relative = value.slice(2)
  if (relative.length === 0) return { warning: `ignoring ${field}: path must not be \`./\`` }
  const names: Array<string> = []
  for (const component of components(relative)) {
    if (component._tag === "ParentDir") return { warning: `ignoring ${field}: path must not contain '..'` }
    if (component._tag !== "Normal") return { warning: `ignoring ${field}: path must stay within the plugin root` }
    names.push(component.name)
  }
  return { path: join(pluginRoot, ...names) }
}

/**
 * The relative part of a marketplace `source.path`, checked the way codex `resolve_plugin_source_path` does
 * before it looks at the marketplace root. `..`, `/` and a leading `./` after the prefix all fail the same way.
 */
export const checkPluginSourcePath = (path: string): Result.Result<ReadonlyArray<string>, string> => {
  if (!path.startsWith("./")) return Result.fail("local plugin source path must start with `./`")
  const relative = path.slice(2)
  if (relative.length === 0) return Result.fail("local plugin source path must not be empty")
  // plain names only (the common case): they are the components
  if (!relative.startsWith("/") && isNormal(relative)) return Result.succeed(relative.split("/"))
  const names: Array<string> = []
  for (const component of components(relative)) {
    if (component._tag !== "Normal") return Result.fail("local plugin source path must stay within the marketplace root")
    names.push(component.name)
  }
  return Result.succeed(names)
}

/** Resolves a local source path against the marketplace root (the parent of `.agents`, not `plugins/`). */
export const resolvePluginSourcePath = (marketplaceRoot: string, path: string): Result.Result<string, string> =>
  Result.map(checkPluginSourcePath(path), (names) => join(marketplaceRoot, ...names))
