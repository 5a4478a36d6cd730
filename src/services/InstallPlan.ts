/**
 * What an install request resolves to, checked in the reference's order before anything is stored:
 * marketplace file, entry (not found, NOT_AVAILABLE, names, source path), remote auth, curated sha, source
 * dir (and that it does not leave the marketplace root through a symlink), manifest and its name, and a
 * config.toml Codex could load. Failures carry the reference's codes and texts.
 */
import { Result } from "effect"
import * as Path from "node:path"
import { checkConfig } from "../adapters/ConfigToml.ts"
import { errnoCode } from "../adapters/FsPort.ts"
import { isDirectory, isFile, readTextOrEmpty } from "../adapters/FsQueries.ts"
import type { TreeFs } from "../adapters/TreeFs.ts"
import { readFileBelow } from "../adapters/DirDescriptors.ts"
import type { RegularFile } from "../adapters/ReadFileOnce.ts"
import { maxInputFileBytes, notRegularFile, readRegularFile } from "../adapters/ReadRegularFile.ts"
import { rustIoError } from "../adapters/RustIoError.ts"
import { decodeManifestName, MANIFEST_PATH } from "../domain/Manifest.ts"
import {
  decodeMarketplaceText,
  type Marketplace,
  type ResolvedPluginEntry,
  resolveInstallTarget,
  resolveInstallTargetIn
} from "../domain/Marketplace.ts"
import { type PluginIdParts, validateSegment } from "../domain/PluginId.ts"
import { describeConfigProblem } from "./ConfigProblems.ts"
import { type EngineError, internalError, invalidRequest } from "./EngineApi.ts"
import type { LedgerPaths } from "./LedgerPaths.ts"
import { remoteMutationError } from "./RemoteAuth.ts"

export interface InstallPlan {
  readonly entry: ResolvedPluginEntry
  readonly pluginId: PluginIdParts
  /** the version dir: `local`, or the curated mirror sha */
  readonly version: string
  /** config.toml as read (already checked), for the projection to prepare its edit */
  readonly configText: string
  /**
   * The manifest's bytes as validated here, when they were read without following a symlink (the usual case): the
   * tree takes its `.codex-plugin/plugin.json` from them (`readSource`), so the plan and the copy agree on one read
   */
  readonly manifestFile: RegularFile | undefined
  /** the source dir's real path, checked to lie inside the marketplace root: the dir the tree is read from */
  readonly realSourceDir: string
}

const readFile = (fs: TreeFs, path: string): Result.Result<string, unknown> =>
  Result.try({ try: () => readRegularFile(fs, path).toString("utf8"), catch: (e) => e })

/**
 * `readRegularFile` for a file below `root` where no symlink was seen: read through the root as opened (it must still
 * be `realRoot`) and the dirs on the way opened without following a symlink (`readFileBelow`), so the bytes come
 * from inside the root even if a symlink was swapped in since.
 */
const readPlainFile = (fs: TreeFs, root: string, realRoot: string, relative: string): RegularFile => {
  const read = readFileBelow(fs, root, realRoot, relative, { maxBytes: maxInputFileBytes })
  if (read._tag === "NotRegular") throw notRegularFile(Path.join(root, relative), read.isDirectory)
  return read.file
}

/**
 * The marketplace files installs decoded last, by path, with the text each was decoded from: an install reads its
 * marketplace file again (it may have changed), and decodes it again only when its text did. Installs of several
 * plugins of one marketplace are the usual case. At most `DECODED_TEXT_BUDGET` characters of text are kept.
 */
const decodedMarketplaces = new Map<string, { readonly text: string; readonly file: ReturnType<typeof decodeMarketplaceText> }>()
const DECODED_TEXT_BUDGET = 2 * 1024 * 1024
let decodedText = 0

const decodeMarketplace = (path: string, text: string): ReturnType<typeof decodeMarketplaceText> => {
  const known = decodedMarketplaces.get(path)
  if (known !== undefined && known.text === text) return known.file
  const file = decodeMarketplaceText(path, text)
  if (known !== undefined) decodedText -= known.text.length
  decodedMarketplaces.delete(path)
  if (text.length > DECODED_TEXT_BUDGET) return file
  decodedMarketplaces.set(path, { text, file })
  decodedText += text.length
  // the oldest first: a Map iterates in insertion order
  for (const [oldest, entry] of decodedMarketplaces) {
    if (decodedText <= DECODED_TEXT_BUDGET) break
    decodedMarketplaces.delete(oldest)
    decodedText -= entry.text.length
  }
  return file
}

/** `real` (a resolved path) is `realRoot` or lies below it */
const isInside = (realRoot: string, real: string): boolean => real === realRoot || real.startsWith(`${realRoot}${Path.sep}`)

/** `path` resolved (symlinks followed) lies below `realRoot`; false when it cannot be resolved */
const resolvesInside = (fs: TreeFs, realRoot: string, path: string): boolean => {
  try {
    return isInside(realRoot, fs.realpathSync(path))
  } catch {
    return false
  }
}

/**
 * What `path` (lexically below `root`) is, when no component between them is a symlink: then it resolves to the
 * root's real path joined with the same names, and one `lstat` per component below the root answers what three
 * `realpath` walks from `/` and two `stat`s answered (the usual case); "Other" (a symlink on the way, a missing or
 * unreadable component) leaves the caller to those.
 */
type Walk = { readonly _tag: "Plain"; readonly isDirectory: boolean; readonly isFile: boolean } | { readonly _tag: "Other" }
const OTHER: Walk = { _tag: "Other" }
const walkBelow = (fs: TreeFs, root: string, path: string): Walk => {
  const relative = Path.relative(root, path)
  if (relative === "" || relative.startsWith("..") || Path.isAbsolute(relative)) return OTHER
  let at = root
  let last: Walk = OTHER
  for (const name of relative.split(Path.sep)) {
    at = Path.join(at, name)
    let stat: ReturnType<TreeFs["lstatSync"]>
    try {
      stat = fs.lstatSync(at)
    } catch {
      return OTHER
    }
    if (stat.isSymbolicLink()) return OTHER
    last = { _tag: "Plain", isDirectory: stat.isDirectory(), isFile: stat.isFile() }
  }
  return last
}

/**
 * The install target in the marketplace file: from `known`'s parse of it when it has one (a listing's, while the file
 * is unchanged: nothing read or decoded), else read and decoded here.
 */
const installTarget = (
  fs: TreeFs,
  marketplacePath: string,
  pluginName: string,
  known: KnownMarketplace | undefined
): Result.Result<{ readonly entry: ResolvedPluginEntry; readonly pluginId: PluginIdParts }, EngineError> => {
  const marketplace = known?.(marketplacePath)
  // no `Result.mapError`: its dual-API dispatch is costly in code run once per install (see Marketplace.ts)
  if (marketplace !== undefined) return invalidIfFailed(resolveInstallTargetIn(marketplace, pluginName))
  const text = readFile(fs, marketplacePath)
  if (Result.isFailure(text)) {
    if (errnoCode(text.failure) === "ENOENT") return Result.fail(invalidRequest(`marketplace file \`${marketplacePath}\` does not exist`))
    return Result.fail(internalError(`failed to install plugin: failed to read marketplace file: ${rustIoError(text.failure)}`))
  }
  const file = decodeMarketplace(marketplacePath, text.success)
  if (Result.isFailure(file)) return Result.fail(invalidRequest(file.failure.message))
  return invalidIfFailed(resolveInstallTarget(file.success, pluginName))
}

const invalidIfFailed = <A>(result: Result.Result<A, { readonly message: string }>): Result.Result<A, EngineError> =>
  Result.isFailure(result) ? Result.fail(invalidRequest(result.failure.message)) : Result.succeed(result.success)

/** A marketplace file as a listing parsed it whole, while the file is unchanged (`Catalog.knownMarketplace`). */
export type KnownMarketplace = (path: string) => Marketplace | undefined

/**
 * Synchronous (a `Result`): the Engine runs it inside a step of the install it takes anyway. `known`: marketplace
 * files parsed already (the same parse as here when it succeeded whole).
 */
export const resolveInstallPlan = (
  fs: TreeFs,
  paths: LedgerPaths,
  input: { readonly marketplacePath: string; readonly pluginName: string; readonly forceRemoteSync: boolean },
  known?: KnownMarketplace
): Result.Result<InstallPlan, EngineError> => {
  const { marketplacePath, pluginName, forceRemoteSync } = input
  const target = installTarget(fs, marketplacePath, pluginName, known)
  if (Result.isFailure(target)) return Result.fail(target.failure)
  const { entry, pluginId } = target.success
  if (forceRemoteSync) return Result.fail(internalError(remoteMutationError(fs, paths, "enable")))
  let version = "local"
  if (pluginId.marketplaceName === "openai-curated") {
    const sha = readFile(fs, paths.curatedShaPath)
    // the sha names the version dir: only a plain path segment (Codex's version-segment rule) is usable
    const trimmed = Result.isFailure(sha) ? "" : sha.success.trim()
    if (!/^[A-Za-z0-9.+_-]+$/.test(trimmed) || trimmed === "." || trimmed === "..") {
      return Result.fail(invalidRequest("local curated marketplace sha is not available"))
    }
    version = trimmed
  }
  const root = Path.dirname(Path.dirname(Path.dirname(marketplacePath)))
  const source = walkBelow(fs, root, entry.sourceDir)
  if (source._tag === "Plain" ? !source.isDirectory : !isDirectory(fs, entry.sourceDir)) {
    return Result.fail(invalidRequest(`plugin source path is not a directory: ${entry.sourceDir}`))
  }
  // the path rules are lexical; a symlinked source dir must not lead out of the marketplace root
  const realRoot = Result.try(() => fs.realpathSync(root))
  const realSource = source._tag === "Plain" && Result.isSuccess(realRoot)
    ? Result.succeed(Path.join(realRoot.success, Path.relative(root, entry.sourceDir)))
    : Result.try(() => fs.realpathSync(entry.sourceDir))
  if (Result.isFailure(realRoot) || Result.isFailure(realSource) || !isInside(realRoot.success, realSource.success)) {
    return Result.fail(invalidRequest(
      `invalid marketplace file \`${marketplacePath}\`: local plugin source path must stay within the marketplace root`
    ))
  }
  const manifestPath = Path.join(entry.sourceDir, MANIFEST_PATH)
  // a manifest (or `.codex-plugin`) linked from outside the plugin is not the plugin's: the copy would not have it
  const manifestWalk = source._tag === "Plain" ? walkBelow(fs, entry.sourceDir, manifestPath) : OTHER
  if (
    manifestWalk._tag === "Plain"
      ? !manifestWalk.isFile
      : !isFile(fs, manifestPath) || !resolvesInside(fs, realSource.success, manifestPath)
  ) {
    return Result.fail(invalidRequest(`missing plugin manifest: ${manifestPath}`))
  }
  // where the walk saw no symlink, read without following one, and the bytes are the tree's too; else through them
  const manifestRead: Result.Result<{ readonly text: string; readonly file: RegularFile | undefined }, unknown> =
    manifestWalk._tag === "Plain"
      ? Result.try({ try: () => readPlainFile(fs, entry.sourceDir, realSource.success, MANIFEST_PATH), catch: (e) => e }).pipe(
        Result.map((file) => ({ text: file.bytes.toString("utf8"), file }))
      )
      : Result.map(readFile(fs, manifestPath), (text) => ({ text, file: undefined }))
  if (Result.isFailure(manifestRead)) {
    return Result.fail(internalError(`failed to install plugin: ${rustIoError(manifestRead.failure)}`))
  }
  const manifest = decodeManifestName(manifestRead.success.text, entry.sourceDir)
  if (Result.isFailure(manifest)) return Result.fail(invalidRequest(`missing or invalid plugin manifest: ${manifestPath}`))
  // the reference validates the manifest's name as an id segment before comparing it with the entry
  const manifestName = manifest.success
  const validName = validateSegment("plugin name", manifestName)
  if (Result.isFailure(validName)) return Result.fail(invalidRequest(validName.failure))
  if (manifestName !== entry.name) {
    return Result.fail(invalidRequest(
      `plugin manifest name \`${manifestName}\` does not match marketplace plugin name \`${entry.name}\``
    ))
  }
  const configText = Result.try({
    try: () => readTextOrEmpty(fs, paths.configPath),
    catch: (e) => internalError(`failed to persist installed plugin config: ${rustIoError(e)}`)
  })
  if (Result.isFailure(configText)) return Result.fail(configText.failure)
  const problem = checkConfig(configText.success)
  if (problem !== undefined) {
    return Result.fail(internalError(
      `failed to persist installed plugin config: ${describeConfigProblem(problem, paths.configPath, "load")}`
    ))
  }
  return Result.succeed({
    entry,
    pluginId,
    version,
    configText: configText.success,
    manifestFile: manifestRead.success.file,
    realSourceDir: realSource.success
  })
}
