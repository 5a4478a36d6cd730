/** Shared test helpers for directory trees: building a layout in a temp dir, and snapshotting a tree. */
import { Effect, FileSystem, Path } from "effect"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"

export interface Layout {
  readonly dirs?: ReadonlyArray<string>
  readonly files: Record<string, string>
  /** link path -> target, both relative to the root */
  readonly symlinks?: Record<string, string>
}

/** Writes `layout` under a scoped temp dir and returns its real path. */
export const materializeLayout = Effect.fn("materializeLayout")(function*(layout: Layout, prefix: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.realPath(yield* fs.makeTempDirectoryScoped({ prefix }))
  for (const dir of layout.dirs ?? []) yield* fs.makeDirectory(path.join(root, dir), { recursive: true })
  for (const [file, content] of Object.entries(layout.files)) {
    yield* fs.makeDirectory(path.dirname(path.join(root, file)), { recursive: true })
    yield* fs.writeFileString(path.join(root, file), content)
  }
  for (const [link, target] of Object.entries(layout.symlinks ?? {})) {
    yield* fs.makeDirectory(path.dirname(path.join(root, link)), { recursive: true })
    yield* fs.symlink(path.join(root, target), path.join(root, link))
  }
  return root
})

/**
 * Every entry below `dir`: type, relative path, a content hash for files and the target for links (and modes, if
 * asked). `live`: a running server may be changing the tree (its work after an answer takes the ledger lock, removes
 * blob copies): an entry gone between the listing and its lstat is left out instead of failing the snapshot.
 */
export const snapshotTree = (dir: string, options: { readonly modes?: boolean; readonly live?: boolean } = {}): ReadonlyArray<string> => {
  const out: Array<string> = []
  const walk = (relative: string): void => {
    let names: Array<string>
    try {
      names = Fs.readdirSync(NodePath.join(dir, relative)).sort()
    } catch (error) {
      if (options.live === true && error instanceof Error && Reflect.get(error, "code") === "ENOENT") return
      throw error
    }
    for (const name of names) {
      const rel = NodePath.join(relative, name)
      const stat = Fs.lstatSync(NodePath.join(dir, rel), { throwIfNoEntry: options.live !== true })
      if (stat === undefined) continue
      const mode = options.modes === true ? ` ${(stat.mode & 0o777).toString(8)}` : ""
      if (stat.isDirectory()) {
        out.push(`dir ${rel}${mode}`)
        walk(rel)
      } else if (stat.isSymbolicLink()) {
        out.push(`link ${rel} -> ${Fs.readlinkSync(NodePath.join(dir, rel))}`)
      } else {
        let bytes: Buffer
        try {
          bytes = Fs.readFileSync(NodePath.join(dir, rel))
        } catch (error) {
          if (options.live === true && error instanceof Error && Reflect.get(error, "code") === "ENOENT") continue
          throw error
        }
        out.push(`file ${rel} ${createHash("sha256").update(bytes).digest("hex")}${mode}`)
      }
    }
  }
  walk("")
  return out
}
