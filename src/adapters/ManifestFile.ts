/**
 * `<root>/.codex-plugin/plugin.json`, read synchronously (it runs for every listed plugin) and reported together with
 * the file-system lookups its result was decided from, so that a listing can reuse it while they are unchanged.
 * Symlinks never lead out of the plugin root.
 */
import { Result } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { type DecodedManifest, decodeManifestText, MANIFEST_PATH } from "../domain/Manifest.ts"

const MANIFEST_DIR = ".codex-plugin"
import { isNormal, isWithin } from "../domain/PathRules.ts"
import { readUtf8File } from "./ReadUtf8File.ts"
import { observe, type Observation, signatureOf } from "./StatSignature.ts"

/** A manifest read, and what its result depends on. */
export interface ManifestLoad {
  /** undefined when the manifest is missing, unreadable, invalid or outside the root */
  readonly decoded: DecodedManifest | undefined
  /**
   * The lookups the result was decided from, in order; undefined when a symlink below the root had to be resolved
   * (such a result is recomputed every time rather than reasoned about).
   */
  readonly observations: ReadonlyArray<Observation> | undefined
}

const decodeAt = (root: string, file: string): DecodedManifest | undefined => {
  let text: string | undefined
  try {
    text = readUtf8File(file, { noFollow: true })
  } catch {
    return undefined
  }
  if (text === undefined) return undefined
  const decoded = decodeManifestText(text, root)
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

/**
 * The manifest through symlinks below the root: both real paths, and the manifest's must stay inside the root's.
 * Node's JS `realpath` (as before: it resolves `..` lexically first, unlike the libc one behind `.native`).
 */
const decodeResolved = (root: string, file: string): DecodedManifest | undefined => {
  let realRoot: string
  let real: string
  try {
    realRoot = NodeFs.realpathSync(root)
    real = NodeFs.realpathSync(file)
  } catch {
    return undefined
  }
  if (!isWithin(realRoot, real)) return undefined
  const target = signatureOf(real, true)
  if (target._tag !== "Entry" || target.kind !== "file") return undefined
  return decodeAt(root, real)
}

/**
 * Reads `<root>/.codex-plugin/plugin.json` (the root made absolute, `..` resolved lexically). When neither
 * `.codex-plugin` nor `plugin.json` is a symlink, the manifest cannot lead out of the root, whatever the root itself
 * resolves to, so two `lstat`s decide it (and are what the result depends on); otherwise both real paths are
 * compared, and the result is not to be kept.
 */
export const readManifestSync = (pluginRoot: string): ManifestLoad => {
  // listed plugins' roots are absolute and normal already: `resolve` would only copy them
  const root = pluginRoot.startsWith("/") && isNormal(pluginRoot) ? pluginRoot : NodePath.resolve(pluginRoot)
  const base = root === "/" ? "" : root
  const dir = observe(`${base}/${MANIFEST_DIR}`, false)
  const manifest = `${base}/${MANIFEST_PATH}`
  if (dir.signature._tag === "Missing") return { decoded: undefined, observations: [dir] }
  if (dir.signature.kind === "symlink") return { decoded: decodeResolved(root, manifest), observations: undefined }
  if (dir.signature.kind !== "directory") return { decoded: undefined, observations: [dir] }
  const file = observe(manifest, false)
  if (file.signature._tag === "Missing") return { decoded: undefined, observations: [dir, file] }
  if (file.signature.kind === "symlink") return { decoded: decodeResolved(root, manifest), observations: undefined }
  if (file.signature.kind !== "file") return { decoded: undefined, observations: [dir, file] }
  return { decoded: decodeAt(root, manifest), observations: [dir, file] }
}
