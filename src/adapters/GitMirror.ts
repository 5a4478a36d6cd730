/**
 * The curated marketplace mirror through the system `git`: `ls-remote` to learn the remote head, a shallow clone into
 * a staging dir under `$CODEX_HOME/.tmp` (`plugins-clone-<pid>-<rand>`), checked to hold the marketplace file, then
 * swapped in by rename with the old mirror kept as `plugins-backup-<pid>-<rand>` until the new one and
 * `.tmp/plugins.sha` (written atomically) are in place; on failure the backup is renamed back. Staging and backup dirs
 * of dead processes are removed first. The network part runs outside the ledger lock; `swapIn` runs under it.
 */
import { Effect, Schema } from "effect"
import * as Path from "node:path"
import { fsyncDir, ownerAlive, pidSuffix, writeFileAtomic } from "./AtomicFile.ts"
import { errnoCode, type FsPort } from "./FsPort.ts"
import { isFile, readTextOrEmpty } from "./FsQueries.ts"

export const DEFAULT_CURATED_REPOSITORY = "https://github.com/openai/plugins.git"
const MARKETPLACE = Path.join(".agents", "plugins", "marketplace.json")

export class GitMirrorError extends Schema.TaggedError<GitMirrorError>()("GitMirrorError", { message: Schema.String }) {}

export interface MirrorPaths {
  /** `$CODEX_HOME/.tmp/plugins` */
  readonly curatedRoot: string
  /** `$CODEX_HOME/.tmp/plugins.sha` */
  readonly curatedShaPath: string
}

export interface GitOptions {
  readonly timeoutMs: number
  readonly onProgress: (line: string) => void
}

/** node:child_process is loaded on first use: importing it costs every `serve` start a few milliseconds */
const childProcess = Effect.promise(() => import("node:child_process"))

const git = (args: ReadonlyArray<string>, options: GitOptions, cwd?: string): Effect.Effect<string, GitMirrorError> =>
  Effect.flatMap(childProcess, ({ execFile }) => Effect.callback<string, GitMirrorError>((resume) => {
    const child = execFile("git", [...args], {
      cwd,
      timeout: options.timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
      // never ask for credentials on a terminal, never take optional locks (the reference sets the latter too)
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" }
    }, (error, stdout, stderr) => {
      if (error === null) return resume(Effect.succeed(stdout))
      const detail = stderr.trim().split("\n").filter((l) => l.trim() !== "").at(-1) ?? error.message
      const timedOut = error.killed === true || error.signal !== undefined && error.signal !== null
      resume(Effect.fail(new GitMirrorError({
        message: timedOut ? `git ${args[0]} timed out after ${options.timeoutMs} ms` : `git ${args[0]} failed: ${detail}`
      })))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  }))

/** The trimmed sha of `.tmp/plugins.sha`, or undefined. */
export const readMirrorSha = (fs: FsPort, paths: MirrorPaths): string | undefined => {
  try {
    const sha = readTextOrEmpty(fs, paths.curatedShaPath).trim()
    return sha === "" ? undefined : sha
  } catch {
    return undefined
  }
}

const tmpDirOf = (paths: MirrorPaths) => Path.dirname(paths.curatedRoot)

/** Removes `plugins-clone-*` and `plugins-backup-*` dirs whose owner process is gone. */
export const removeStaleMirrorDirs = (fs: FsPort, paths: MirrorPaths): ReadonlyArray<string> => {
  const tmp = tmpDirOf(paths)
  let names: ReadonlyArray<string>
  try {
    names = fs.readdirSync(tmp)
  } catch {
    return []
  }
  const removed: Array<string> = []
  for (const name of names) {
    const match = /^plugins-(?:clone|backup)-(.+)$/.exec(name)
    if (match === null || ownerAlive(name)) continue
    fs.rmSync(Path.join(tmp, name), { recursive: true, force: true })
    removed.push(name)
  }
  return removed
}

/** The remote head (`git ls-remote <url> HEAD`). */
export const remoteHead = (url: string, options: GitOptions): Effect.Effect<string, GitMirrorError> =>
  git(["ls-remote", url, "HEAD"], options).pipe(Effect.flatMap((out) => {
    const sha = out.trim().split(/\s+/)[0] ?? ""
    return /^[0-9a-f]{40}$/.test(sha)
      ? Effect.succeed(sha)
      : Effect.fail(new GitMirrorError({ message: `git ls-remote found no HEAD in ${url}` }))
  }))

export interface StagedMirror {
  readonly dir: string
  readonly sha: string
}

/** A shallow clone into a fresh staging dir; removed again if it fails or lacks the marketplace file. */
export const cloneToStaging = (fs: FsPort, paths: MirrorPaths, url: string, options: GitOptions): Effect.Effect<StagedMirror, GitMirrorError> => {
  const dir = Path.join(tmpDirOf(paths), `plugins-clone-${pidSuffix()}`)
  const remove = Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  return Effect.gen(function*() {
    yield* Effect.try({ try: () => fs.mkdirSync(tmpDirOf(paths), { recursive: true }), catch: (e) => new GitMirrorError({ message: `failed to create ${tmpDirOf(paths)}: ${String(e)}` }) })
    options.onProgress(`cloning ${url}`)
    yield* git(["clone", "--quiet", "--depth", "1", "--no-tags", url, dir], options)
    const sha = (yield* git(["rev-parse", "HEAD"], options, dir)).trim()
    if (!isFile(fs, Path.join(dir, MARKETPLACE))) {
      return yield* new GitMirrorError({ message: `the curated repository ${url} has no ${MARKETPLACE}` })
    }
    return { dir, sha }
  }).pipe(Effect.onError(() => remove))
}

/**
 * Swaps the staged clone in: old mirror renamed to a backup, staging renamed to `.tmp/plugins`, sha file written
 * atomically, backup removed. If any step fails the previous mirror is put back and the staging dir removed.
 */
export const swapIn = (fs: FsPort, paths: MirrorPaths, staged: StagedMirror): Effect.Effect<void, GitMirrorError> =>
  Effect.try({
    try: () => {
      const tmp = tmpDirOf(paths)
      const backup = Path.join(tmp, `plugins-backup-${pidSuffix()}`)
      let hadOld = true
      try {
        fs.renameSync(paths.curatedRoot, backup)
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error
        hadOld = false
      }
      try {
        fs.renameSync(staged.dir, paths.curatedRoot)
        writeFileAtomic(fs, paths.curatedShaPath, Buffer.from(`${staged.sha}\n`, "utf8"))
        fsyncDir(fs, tmp)
      } catch (error) {
        // roll back: the previous mirror (and the sha file still naming it) stay as they were
        if (hadOld) {
          fs.rmSync(paths.curatedRoot, { recursive: true, force: true })
          fs.renameSync(backup, paths.curatedRoot)
        }
        fs.rmSync(staged.dir, { recursive: true, force: true })
        throw error
      }
      if (hadOld) fs.rmSync(backup, { recursive: true, force: true })
    },
    catch: (error) => new GitMirrorError({ message: `failed to swap in the curated mirror: ${String(error)}` })
  })
