/**
 * A fault-injecting `TreeFs` for the durability suites: every call passes through to a real directory, and a model
 * of that directory records which changes are durable, ext4-like:
 *
 * - file data (writes, truncations) and modes are durable after an fsync/fdatasync of that file;
 * - directory entries (create, link, rename, unlink, mkdir, rmdir) are durable after an fsync of the directory that
 *   holds them; a rename between two directories is two halves (the new name, durable with the target directory; the
 *   old name's removal, durable with the source directory), and the removal never survives without the new name
 *   (rename never loses the file, as in any journaling file system);
 * - a new inode's creation mode is durable with its directory entry.
 *
 * Hooks: every call is one numbered op (recursive `rmSync`/`mkdirSync` count each step they take). `crashAt(k)`: op k
 * and everything after it throw `Crash` (the process died there; nothing of op k happens). `failAt(k, code)`: op k
 * throws a Node-style errno error and does nothing. After a crash, `restart()` models a process crash without power
 * loss (the page cache survives: everything written stays visible, durable or not), and `powerLoss(random)` rewrites
 * the directory to a state that keeps every durable change and, per random draw, drops, keeps or tears (keeps a prefix
 * of) each change that was not durable yet. fsyncs are recorded in the model only (the real disk is never synced:
 * power loss is simulated, so a real sync would only cost time).
 *
 * `recordSites` attributes each op to its call site (`CallSite.ts`), for the call-site coverage check of the errno
 * suite.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import type { FsStats } from "../../src/adapters/FsPort.ts"
import { type DirEntry, nodeTreeFs, type TreeFs } from "../../src/adapters/TreeFs.ts"
import { callSite } from "./CallSite.ts"

/** Thrown by every op from the crash point on: the process is dead. Deliberately has no errno `code`. */
export class Crash extends Error {
  override readonly name = "Crash"
  readonly op: number
  constructor(op: number) {
    super(`FaultFs: simulated crash at op ${op}`)
    this.op = op
  }
}

export const errnoError = (code: string, syscall: string, path: string | undefined): Error =>
  Object.assign(new Error(`${code}: injected fault, ${syscall}${path === undefined ? "" : ` '${path}'`}`), {
    code,
    syscall,
    ...(path === undefined ? {} : { path })
  })

/** One op as recorded in the trace. */
export interface OpRecord {
  readonly index: number
  readonly kind: string
  readonly path: string | undefined
  /** `src/adapters/LogFile.ts:appendInternal`, when `recordSites` is on */
  readonly site: string | undefined
  /** set when a hook fired at this op */
  readonly fault?: string
  /** `openSync`: the flags */
  readonly flags?: string
  /** whether the op changes the disk or what is durable (a crash right after a read leaves the same state as one before it) */
  readonly mutates: boolean
}

export interface PowerLossReport {
  readonly pendingEntries: number
  readonly pendingData: number
  readonly kept: number
  readonly dropped: number
  readonly torn: number
}

export interface Random {
  readonly next: () => number
}

type DataOp =
  | { readonly type: "write"; readonly pos: number; readonly bytes: Buffer<ArrayBufferLike> }
  | { readonly type: "truncate"; readonly length: number }
  | { readonly type: "chmod"; readonly mode: number }

interface Node {
  readonly id: number
  readonly kind: "file" | "dir"
  /** current (visible) state */
  data: Buffer<ArrayBufferLike>
  mode: number
  entries: Map<string, number>
  /** durable state */
  durableData: Buffer<ArrayBufferLike>
  durableMode: number
  /** data and mode changes since the last fsync of this node, in order */
  pending: Array<DataOp>
}

interface EntryOp {
  readonly dir: number
  readonly type: "add" | "remove" | "move"
  readonly name: string
  /** move: the new name */
  readonly to?: string
  readonly node: number
  durable: boolean
  /** the `remove` half of a rename between directories: applied only if its `add` half was */
  readonly after?: EntryOp
}

interface OpenFile {
  readonly node: number | undefined
  readonly path: string
  readonly append: boolean
  readonly incarnation: number
  position: number
}

const MUTATING = new Set([
  "writeSync", "ftruncateSync", "renameSync", "linkSync", "unlinkSync", "mkdirSync", "rmdirSync", "rmSync", "chmodSync",
  "fchmodSync", "fsyncSync", "fdatasyncSync", "fsyncAsync", "fdatasyncAsync"
])
const WRITE_FLAGS = new Set(["w", "wx", "w+", "wx+", "a", "ax", "a+", "ax+", "r+"])
const CREATE_FLAGS = new Set(["w", "wx", "w+", "wx+", "a", "ax", "a+", "ax+"])

export interface FaultFsOptions {
  /** the directory modelled (and rewritten by `powerLoss`); writes outside it are refused */
  readonly root: string
  /** attribute each op to its call site (costs a stack trace per op) */
  readonly recordSites?: boolean
  /** keep the trace of ops (kind, path, site) */
  readonly recordTrace?: boolean
  /** a disk that lies: fsyncs of these succeed but make nothing durable (negative controls of the suites) */
  readonly lieAbout?: "dirs" | "files"
}

export class FaultFs implements TreeFs {
  readonly root: string
  private readonly recordSites: boolean
  private readonly recordTrace: boolean
  private readonly lieAbout: "dirs" | "files" | undefined
  private nodes = new Map<number, Node>()
  private nextId = 1
  private rootId = 0
  /** entries of every directory when the model was (re)built: all durable */
  private baseEntries = new Map<number, Map<string, number>>()
  private entryOps: Array<EntryOp> = []
  private fds = new Map<number, OpenFile>()
  private incarnation = 0
  private opCount = 0
  private crashFrom: number | undefined
  private faults = new Map<number, string>()
  private crashedAt: number | undefined
  /** every op so far (all incarnations), when `recordTrace` */
  readonly trace: Array<OpRecord> = []
  /** every fault that fired: op index, code (or "crash"), kind, path, site */
  readonly fired: Array<OpRecord> = []
  /** for a failed `fsyncAsync` or `fdatasyncAsync`: the op count when its rejection was delivered (a turn after the call) */
  readonly deliveredAt = new Map<number, number>()

  constructor(options: FaultFsOptions) {
    this.root = Path.resolve(options.root)
    this.recordSites = options.recordSites === true
    this.recordTrace = options.recordTrace === true || this.recordSites
    this.lieAbout = options.lieAbout
    this.rescan()
  }

  // -------------------------------------------------------------------------------------------
  // Hooks

  /** ops counted so far (the index the next op gets) */
  get ops(): number {
    return this.opCount
  }
  /** the descriptors open through this file system (not closed yet), with the path each was opened at */
  get openFds(): ReadonlyArray<string> {
    return [...this.fds.entries()].map(([fd, open]) => `${fd} ${open.path}`)
  }
  get crashed(): boolean {
    return this.crashedAt !== undefined
  }
  /** op k and every later one throw `Crash` */
  crashAt(k: number): void {
    this.crashFrom = k
  }
  /** op k throws a Node-style `code` error and has no effect */
  failAt(k: number, code: string): void {
    this.faults.set(k, code)
  }
  clearFaults(): void {
    this.faults.clear()
    this.crashFrom = undefined
  }

  /**
   * The process died (or exits) and a new one starts on the same machine: open descriptors are closed, the crash
   * is over (`failAt` faults still armed stay armed), and nothing is lost (the page cache survives a process
   * crash), durable or not.
   */
  restart(): void {
    for (const fd of this.fds.keys()) {
      try {
        NodeFs.closeSync(fd)
      } catch {
        // already closed by the dead process
      }
    }
    this.fds.clear()
    this.crashedAt = undefined
    this.crashFrom = undefined
    this.incarnation++
  }

  /**
   * The machine lost power: the directory is rewritten to what a disk could hold afterwards (every durable change,
   * plus each pending one dropped, kept or torn by `random`), and the model restarts from that state (all durable).
   * `keep` is the probability of keeping a pending change (a torn write counts as kept: a prefix of its bytes).
   */
  powerLoss(random: Random, keep = 0.5): PowerLossReport {
    const counts = { pendingEntries: 0, pendingData: 0, kept: 0, dropped: 0, torn: 0 }
    const choose = (): boolean => {
      const kept = random.next() < keep
      counts[kept ? "kept" : "dropped"]++
      return kept
    }
    // directory entries: the base, then every durable op and every pending op chosen to survive, in order
    const entries = new Map<number, Map<string, number>>()
    const dirEntries = (dir: number): Map<string, number> => {
      let map = entries.get(dir)
      if (map === undefined) {
        map = new Map(this.baseEntries.get(dir) ?? [])
        entries.set(dir, map)
      }
      return map
    }
    const applied = new Set<EntryOp>()
    for (const op of this.entryOps) {
      if (!op.durable) counts.pendingEntries++
      const survives = op.durable || choose()
      if (!survives) continue
      if (op.after !== undefined && !applied.has(op.after)) continue
      const map = dirEntries(op.dir)
      if (op.type === "add") {
        map.set(op.name, op.node)
      } else if (map.get(op.name) !== op.node) {
        continue // what it removes or moves is not there (an earlier change was lost)
      } else if (op.type === "remove") {
        map.delete(op.name)
      } else {
        map.delete(op.name)
        map.set(op.to ?? op.name, op.node)
      }
      applied.add(op)
    }
    // contents: durable bytes and mode, then each pending change dropped, kept or torn
    const contents = new Map<number, { data: Buffer<ArrayBufferLike>; mode: number }>()
    const contentOf = (node: Node): { data: Buffer<ArrayBufferLike>; mode: number } => {
      const known = contents.get(node.id)
      if (known !== undefined) return known
      let data: Buffer<ArrayBufferLike> = Buffer.from(node.durableData)
      let mode = node.durableMode
      for (const change of node.pending) {
        counts.pendingData++
        if (!choose()) continue
        if (change.type === "chmod") mode = change.mode
        else if (change.type === "truncate") data = resize(data, change.length)
        else {
          let bytes = change.bytes
          if (bytes.length > 1 && random.next() < 0.3) {
            bytes = bytes.subarray(0, Math.floor(random.next() * bytes.length))
            counts.torn++
          }
          data = writeAt(data, change.pos, bytes)
        }
      }
      const result = { data, mode }
      contents.set(node.id, result)
      return result
    }
    // rewrite the real directory: remove everything, then write the surviving tree (hard links as hard links)
    for (const name of NodeFs.readdirSync(this.root)) {
      makeWritable(Path.join(this.root, name))
      NodeFs.rmSync(Path.join(this.root, name), { recursive: true, force: true })
    }
    const written = new Map<number, string>()
    const dirModes: Array<{ path: string; mode: number }> = []
    const build = (dirId: number, dirPath: string, seen: ReadonlySet<number>): void => {
      for (const [name, id] of [...dirEntries(dirId)].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const node = this.nodes.get(id)
        if (node === undefined || seen.has(id)) continue
        const path = Path.join(dirPath, name)
        if (node.kind === "dir") {
          if (written.has(id)) continue // a directory reachable twice (a lost rename half): keep the first
          written.set(id, path)
          NodeFs.mkdirSync(path, { mode: 0o700 })
          build(id, path, new Set([...seen, id]))
          dirModes.push({ path, mode: contentOf(node).mode })
        } else {
          const first = written.get(id)
          if (first !== undefined) {
            NodeFs.linkSync(first, path)
            continue
          }
          written.set(id, path)
          const { data, mode } = contentOf(node)
          NodeFs.writeFileSync(path, data, { mode: 0o600 })
          NodeFs.chmodSync(path, mode)
        }
      }
    }
    build(this.rootId, this.root, new Set([this.rootId]))
    for (const { path, mode } of dirModes.reverse()) NodeFs.chmodSync(path, mode)
    this.restart()
    this.clearFaults()
    this.rescan()
    return counts
  }

  /** Rebuilds the model from the real directory, everything durable (at start, and after a power loss). */
  rescan(): void {
    this.nodes.clear()
    this.baseEntries.clear()
    this.entryOps = []
    const scanDir = (path: string): number => {
      const stat = NodeFs.lstatSync(path)
      const node = this.newNode("dir", stat.mode & 0o7777)
      for (const name of NodeFs.readdirSync(path)) {
        const child = Path.join(path, name)
        const childStat = NodeFs.lstatSync(child)
        if (childStat.isDirectory()) node.entries.set(name, scanDir(child))
        else if (childStat.isFile()) {
          const bytes = NodeFs.readFileSync(child)
          const file = this.newNode("file", childStat.mode & 0o7777)
          file.data = bytes
          file.durableData = Buffer.from(bytes)
          node.entries.set(name, file.id)
        }
      }
      this.baseEntries.set(node.id, new Map(node.entries))
      return node.id
    }
    this.rootId = scanDir(this.root)
  }

  // -------------------------------------------------------------------------------------------
  // The model

  private newNode(kind: "file" | "dir", mode: number): Node {
    const node: Node = {
      id: this.nextId++,
      kind,
      data: Buffer.alloc(0),
      mode,
      entries: new Map(),
      durableData: Buffer.alloc(0),
      durableMode: mode,
      pending: []
    }
    this.nodes.set(node.id, node)
    return node
  }

  private node(id: number): Node {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`FaultFs: unknown node ${id}`)
    return node
  }

  /** The modelled parent dir and name of `path`, or undefined outside the root. */
  private locate(path: string): { readonly dir: Node; readonly name: string } | undefined {
    const abs = Path.resolve(path)
    if (abs === this.root || !abs.startsWith(`${this.root}${Path.sep}`)) return undefined
    const parts = abs.slice(this.root.length + 1).split(Path.sep)
    const name = parts.pop()
    let dir = this.node(this.rootId)
    for (const part of parts) {
      const id = dir.entries.get(part)
      if (id === undefined) return undefined
      const next = this.node(id)
      if (next.kind !== "dir") return undefined
      dir = next
    }
    return name === undefined ? undefined : { dir, name }
  }

  private lookup(path: string): Node | undefined {
    if (Path.resolve(path) === this.root) return this.node(this.rootId)
    const at = this.locate(path)
    const id = at?.dir.entries.get(at.name)
    return id === undefined ? undefined : this.node(id)
  }

  private inside(path: string): boolean {
    const abs = Path.resolve(path)
    return abs === this.root || abs.startsWith(`${this.root}${Path.sep}`)
  }

  /** Nothing outside the modelled root may change: power loss could not account for it. */
  private mustBeInside(path: string, syscall: string): void {
    if (!this.inside(path)) throw new Error(`FaultFs: ${syscall} outside the modelled root ${this.root}: ${path}`)
  }

  /** The model must mirror the disk: a change that succeeded but that the model cannot place is a bug here. */
  private mustLocate(path: string, syscall: string): { readonly dir: Node; readonly name: string } {
    const at = this.locate(path)
    if (at === undefined) throw new Error(`FaultFs: the model lost track of ${path} (${syscall})`)
    return at
  }

  private entryOp(op: Omit<EntryOp, "durable">): EntryOp {
    const recorded: EntryOp = { ...op, durable: false }
    this.entryOps.push(recorded)
    return recorded
  }

  private fsyncNode(node: Node): void {
    if (this.lieAbout === (node.kind === "dir" ? "dirs" : "files")) return
    node.durableData = Buffer.from(node.data)
    node.durableMode = node.mode
    node.pending = []
    if (node.kind === "dir") {
      for (const op of this.entryOps) if (op.dir === node.id) op.durable = true
    }
  }

  // -------------------------------------------------------------------------------------------
  // Op counting, hooks and call sites

  private op<A>(
    kind: string,
    path: string | undefined,
    run: () => A,
    options: { readonly flags?: string; readonly partial?: () => void; readonly mutates?: boolean } = {}
  ): A {
    const index = this.opCount++
    const site = this.recordSites ? callSite() : undefined
    const flags = options.flags
    const mutates = options.mutates ?? (MUTATING.has(kind) || (flags !== undefined && WRITE_FLAGS.has(flags)))
    if (this.crashedAt !== undefined || (this.crashFrom !== undefined && index >= this.crashFrom)) {
      if (this.crashedAt === undefined) {
        this.crashedAt = index
        this.fired.push({ index, kind, path, site: site ?? callSite(), fault: "crash", mutates })
      }
      throw new Crash(index)
    }
    const code = this.faults.get(index)
    const extra = { mutates, ...(code === undefined ? {} : { fault: code }), ...(flags === undefined ? {} : { flags }) }
    if (this.recordTrace) this.trace.push({ index, kind, path, site, ...extra })
    if (code !== undefined) {
      this.fired.push({ index, kind, path, site: site ?? callSite(), ...extra })
      // a disk that fills up mid-write: part of the bytes land before the error
      if (code === "ENOSPC" && options.partial !== undefined) options.partial()
      throw errnoError(code, kind, path)
    }
    return run()
  }

  private openFile(fd: number): OpenFile | undefined {
    return this.fds.get(fd)
  }

  private pathOfFd(fd: number): string | undefined {
    return this.fds.get(fd)?.path
  }

  // -------------------------------------------------------------------------------------------
  // FsPort

  readonly openSync = (path: string, flags: string, mode?: number): number =>
    this.op("openSync", path, () => {
      const writes = WRITE_FLAGS.has(flags)
      if (writes && !this.inside(path)) throw new Error(`FaultFs: opening ${path} for writing outside the modelled root`)
      const before = writes ? this.lookup(path) : undefined
      const fd = NodeFs.openSync(path, flags, mode)
      let node = this.lookup(path)
      if (writes && before === undefined && CREATE_FLAGS.has(flags)) {
        const at = this.mustLocate(path, "open")
        const created = this.newNode("file", NodeFs.fstatSync(fd).mode & 0o7777)
        at.dir.entries.set(at.name, created.id)
        this.entryOp({ dir: at.dir.id, type: "add", name: at.name, node: created.id })
        node = created
      } else if (node !== undefined && node.kind === "file" && flags.startsWith("w") && node.data.length > 0) {
        node.data = Buffer.alloc(0)
        node.pending.push({ type: "truncate", length: 0 })
      }
      this.fds.set(fd, { node: node?.id, path, append: flags.startsWith("a"), incarnation: this.incarnation, position: 0 })
      return fd
    }, { flags })

  readonly closeSync = (fd: number): void => {
    try {
      this.op("closeSync", this.pathOfFd(fd), () => {
        NodeFs.closeSync(fd)
        this.fds.delete(fd)
      })
    } catch (error) {
      // a close that fails still releases the descriptor (close(2) on Linux), so the caller never closes it again
      if (!(error instanceof Crash) && this.fds.delete(fd)) NodeFs.closeSync(fd)
      throw error
    }
  }

  readonly writeSync = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number => {
    const write = (count: number): number => {
      const open = this.openFile(fd)
      const node = open?.node === undefined ? undefined : this.node(open.node)
      const pos = open?.append === true && node !== undefined ? node.data.length : position ?? open?.position ?? 0
      const n = NodeFs.writeSync(fd, buffer, offset, count, position)
      if (open !== undefined && position === null) open.position = pos + n
      if (node !== undefined && node.kind === "file" && n > 0) {
        const bytes = Buffer.from(buffer.subarray(offset, offset + n))
        node.data = writeAt(node.data, pos, bytes)
        node.pending.push({ type: "write", pos, bytes })
      } else if (open !== undefined && node === undefined && this.inside(open.path)) {
        throw new Error(`FaultFs: write to an unmodelled file ${open.path}`)
      }
      return n
    }
    return this.op("writeSync", this.pathOfFd(fd), () => write(length), {
      partial: () => {
        if (length > 1) write(Math.floor(length / 2))
      }
    })
  }

  readonly readSync = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number =>
    this.op("readSync", this.pathOfFd(fd), () => {
      const n = NodeFs.readSync(fd, buffer, offset, length, position)
      const open = this.openFile(fd)
      if (open !== undefined && position === null) open.position += n
      return n
    })

  readonly readFileSync = (path: string): Buffer => this.op("readFileSync", path, () => NodeFs.readFileSync(path))

  readonly fsyncSync = (fd: number): void =>
    this.op("fsyncSync", this.pathOfFd(fd), () => {
      NodeFs.fstatSync(fd) // EBADF as the real call would
      const open = this.openFile(fd)
      if (open?.node !== undefined) this.fsyncNode(this.node(open.node))
    })

  readonly fdatasyncSync = (fd: number): void =>
    this.op("fdatasyncSync", this.pathOfFd(fd), () => {
      NodeFs.fstatSync(fd)
      const open = this.openFile(fd)
      if (open?.node !== undefined) this.fsyncNode(this.node(open.node))
    })

  readonly ftruncateSync = (fd: number, length: number): void =>
    this.op("ftruncateSync", this.pathOfFd(fd), () => {
      NodeFs.ftruncateSync(fd, length)
      const open = this.openFile(fd)
      if (open?.node !== undefined) {
        const node = this.node(open.node)
        node.data = resize(node.data, length)
        node.pending.push({ type: "truncate", length })
      }
    })

  readonly renameSync = (from: string, to: string): void =>
    this.op("renameSync", from, () => {
      this.mustBeInside(from, "rename")
      this.mustBeInside(to, "rename")
      NodeFs.renameSync(from, to)
      const src = this.mustLocate(from, "rename")
      const dst = this.mustLocate(to, "rename")
      const id = src.dir.entries.get(src.name)
      if (id === undefined) throw new Error(`FaultFs: model lost track of ${from}`)
      src.dir.entries.delete(src.name)
      dst.dir.entries.set(dst.name, id)
      if (src.dir === dst.dir) {
        this.entryOp({ dir: src.dir.id, type: "move", name: src.name, to: dst.name, node: id })
      } else {
        const add = this.entryOp({ dir: dst.dir.id, type: "add", name: dst.name, node: id })
        this.entryOp({ dir: src.dir.id, type: "remove", name: src.name, node: id, after: add })
      }
    })

  readonly linkSync = (existing: string, to: string): void =>
    this.op("linkSync", to, () => {
      this.mustBeInside(to, "link")
      NodeFs.linkSync(existing, to)
      const dst = this.mustLocate(to, "link")
      const node = this.lookup(existing)
      if (node === undefined) throw new Error(`FaultFs: link of an unmodelled file ${existing}`)
      dst.dir.entries.set(dst.name, node.id)
      this.entryOp({ dir: dst.dir.id, type: "add", name: dst.name, node: node.id })
    })

  private unlinkStep(path: string): void {
    this.mustBeInside(path, "unlink")
    NodeFs.unlinkSync(path)
    const at = this.mustLocate(path, "unlink")
    const id = at.dir.entries.get(at.name)
    if (id === undefined) return
    at.dir.entries.delete(at.name)
    this.entryOp({ dir: at.dir.id, type: "remove", name: at.name, node: id })
  }

  private rmdirStep(path: string): void {
    this.mustBeInside(path, "rmdir")
    NodeFs.rmdirSync(path)
    const at = this.mustLocate(path, "rmdir")
    const id = at.dir.entries.get(at.name)
    if (id === undefined) return
    at.dir.entries.delete(at.name)
    this.entryOp({ dir: at.dir.id, type: "remove", name: at.name, node: id })
  }

  private mkdirStep(path: string): void {
    this.mustBeInside(path, "mkdir")
    NodeFs.mkdirSync(path)
    const at = this.mustLocate(path, "mkdir")
    const dir = this.newNode("dir", NodeFs.lstatSync(path).mode & 0o7777)
    at.dir.entries.set(at.name, dir.id)
    this.entryOp({ dir: at.dir.id, type: "add", name: at.name, node: dir.id })
  }

  readonly unlinkSync = (path: string): void => this.op("unlinkSync", path, () => this.unlinkStep(path))

  readonly mkdirSync = (path: string, options: { readonly recursive: boolean }): void => {
    if (!options.recursive) {
      this.op("mkdirSync", path, () => this.mkdirStep(path))
      return
    }
    // one op per missing component, as the kernel sees it
    const missing: Array<string> = []
    for (let dir = Path.resolve(path); ; dir = Path.dirname(dir)) {
      const exists = this.op("mkdirSync", dir, () => NodeFs.existsSync(dir), { mutates: false })
      if (exists) break
      missing.push(dir)
      if (Path.dirname(dir) === dir) break
    }
    for (const dir of missing.reverse()) this.op("mkdirSync", dir, () => this.mkdirStep(dir))
  }

  readonly rmdirSync = (path: string): void => this.op("rmdirSync", path, () => this.rmdirStep(path))

  readonly readdirSync = (path: string): ReadonlyArray<string> => this.op("readdirSync", path, () => NodeFs.readdirSync(path))

  readonly statSync = (path: string): FsStats => this.op("statSync", path, () => NodeFs.statSync(path))

  readonly statIfExists = (path: string): FsStats | undefined =>
    this.op("statIfExists", path, () => NodeFs.statSync(path, { throwIfNoEntry: false }))

  readonly fstatSync = (fd: number): FsStats => this.op("fstatSync", this.pathOfFd(fd), () => NodeFs.fstatSync(fd))

  readonly rmSync = (path: string, options: { readonly recursive: boolean; readonly force: boolean }): void => {
    const remove = (target: string): void => {
      const stat = this.op("rmSync", target, () => {
        try {
          return NodeFs.lstatSync(target)
        } catch (error) {
          if (options.force && errno(error) === "ENOENT") return undefined
          throw error
        }
      }, { mutates: false })
      if (stat === undefined) return
      if (stat.isDirectory()) {
        if (!options.recursive) throw errnoError("EISDIR", "rm", target)
        const names = this.op("rmSync", target, () => NodeFs.readdirSync(target), { mutates: false })
        for (const name of names) remove(Path.join(target, name))
        this.op("rmSync", target, () => this.rmdirStep(target))
      } else {
        this.op("rmSync", target, () => this.unlinkStep(target))
      }
    }
    remove(path)
  }

  readonly fsyncAsync = (fd: number): Promise<void> => this.syncAsync("fsyncAsync", fd)

  /** as `fsyncAsync`: the model makes no difference between the two (an append's new size is data to it) */
  readonly fdatasyncAsync = (fd: number): Promise<void> => this.syncAsync("fdatasyncAsync", fd)

  private syncAsync(kind: "fsyncAsync" | "fdatasyncAsync", fd: number): Promise<void> {
    let node: number | undefined
    let failure: unknown
    const index = this.opCount
    try {
      this.op(kind, this.pathOfFd(fd), () => {
        NodeFs.fstatSync(fd)
        node = this.openFile(fd)?.node
      })
    } catch (error) {
      failure = error
    }
    const incarnation = this.incarnation
    // completes (or fails) a turn later, as on the thread pool: the caller learns of a failure only then, and
    // the fsync takes effect only if the process is still alive then (a crash in between loses it)
    return new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        if (failure !== undefined) {
          this.deliveredAt.set(index, this.opCount)
          reject(failure)
        } else if (this.crashedAt !== undefined || this.incarnation !== incarnation) {
          reject(new Crash(this.crashedAt ?? -1))
        } else {
          if (node !== undefined && this.nodes.has(node)) this.fsyncNode(this.node(node))
          resolve()
        }
      })
    })
  }

  // -------------------------------------------------------------------------------------------
  // TreeFs

  readonly lstatSync = (path: string) => this.op("lstatSync", path, () => NodeFs.lstatSync(path))

  readonly lstatIfExists = (path: string) => this.op("lstatIfExists", path, () => NodeFs.lstatSync(path, { throwIfNoEntry: false }))

  readonly chmodSync = (path: string, mode: number): void =>
    this.op("chmodSync", path, () => {
      NodeFs.chmodSync(path, mode)
      const node = this.lookup(path)
      if (node === undefined) {
        if (this.inside(path)) throw new Error(`FaultFs: chmod of an unmodelled path ${path}`)
        return
      }
      node.mode = mode & 0o7777
      node.pending.push({ type: "chmod", mode: mode & 0o7777 })
    })

  readonly fchmodSync = (fd: number, mode: number): void =>
    this.op("fchmodSync", this.pathOfFd(fd), () => {
      NodeFs.fchmodSync(fd, mode)
      const open = this.openFile(fd)
      if (open?.node === undefined) {
        if (open !== undefined && this.inside(open.path)) throw new Error(`FaultFs: fchmod of an unmodelled file ${open.path}`)
        return
      }
      const node = this.node(open.node)
      node.mode = mode & 0o7777
      node.pending.push({ type: "chmod", mode: mode & 0o7777 })
    })

  readonly realpathSync = (path: string): string => this.op("realpathSync", path, () => NodeFs.realpathSync(path))

  readonly readlinkSync = (path: string): string => this.op("readlinkSync", path, () => NodeFs.readlinkSync(path))

  readonly readdirEntriesSync = (path: string): ReadonlyArray<DirEntry> =>
    this.op("readdirEntriesSync", path, () => nodeTreeFs.readdirEntriesSync(path))

  /** a read: nothing changes, and the model learns of nothing (the fd is tracked for the ops on it, as `openSync`'s) */
  readonly openNoFollowSync = (path: string): number =>
    this.op("openNoFollowSync", path, () => {
      const fd = nodeTreeFs.openNoFollowSync(path)
      this.fds.set(fd, { node: this.lookup(path)?.id, path, append: false, incarnation: this.incarnation, position: 0 })
      return fd
    })

  /** a read, as `openNoFollowSync` */
  readonly openDirSync = (path: string, follow: boolean): number =>
    this.op("openDirSync", path, () => {
      const fd = nodeTreeFs.openDirSync(path, follow)
      this.fds.set(fd, { node: this.lookup(path)?.id, path, append: false, incarnation: this.incarnation, position: 0 })
      return fd
    })

  /** a read, as `openNoFollowSync` */
  readonly openNonBlockingSync = (path: string): number =>
    this.op("openNonBlockingSync", path, () => {
      const fd = nodeTreeFs.openNonBlockingSync(path)
      this.fds.set(fd, { node: this.lookup(path)?.id, path, append: false, incarnation: this.incarnation, position: 0 })
      return fd
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers

const errno = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined

const resize = (data: Buffer<ArrayBufferLike>, length: number): Buffer<ArrayBufferLike> =>
  length <= data.length ? Buffer.from(data.subarray(0, length)) : Buffer.concat([data, Buffer.alloc(length - data.length)])

const writeAt = (data: Buffer<ArrayBufferLike>, pos: number, bytes: Buffer<ArrayBufferLike>): Buffer<ArrayBufferLike> => {
  const out = resize(data, Math.max(data.length, pos + bytes.length))
  bytes.copy(out, pos)
  return out
}

/** Read-only dirs (e.g. 0o555 plugin dirs) must become writable before they can be emptied. */
const makeWritable = (path: string): void => {
  const stat = NodeFs.lstatSync(path)
  if (!stat.isDirectory()) return
  NodeFs.chmodSync(path, 0o700)
  for (const name of NodeFs.readdirSync(path)) makeWritable(Path.join(path, name))
}
