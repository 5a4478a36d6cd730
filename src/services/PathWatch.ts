/**
 * "Watch these paths, call me when they change": the daemon's one file watcher (see `adapters/PathWatcher.ts` for
 * how a path is covered), shared by the log tailer, the marketplace watcher and anything else that must react
 * to files. Changes are debounced per subscription and classified by looking at the path afterwards.
 */
import { Cause, Context, Effect, Layer, Queue, type Scope } from "effect"
import * as NodePath from "node:path"
import { makePathWatcher, type PathWatcher } from "../adapters/PathWatcher.ts"
import { sameSignature, type Signature, signatureOf } from "../adapters/StatSignature.ts"

export type PathChangeKind = "created" | "changed" | "deleted"

export interface PathChange {
  readonly path: string
  readonly kind: PathChangeKind
}

export interface PathWatchOptions {
  /** events closer together than this are reported once (default 20 ms) */
  readonly debounceMs?: number
  /** the paths are directories: a change to any entry directly inside one is a change of it */
  readonly children?: boolean
}

export interface PathWatchHandle {
  /**
   * Watch more paths with the same subscription. `seen`: what some of them looked like to someone who looked before
   * the watch existed (by absolute path); a difference between that and now is reported as a change.
   */
  readonly add: (paths: Iterable<string>, seen?: ReadonlyMap<string, Signature>) => Effect.Effect<void>
}

export interface SyncWatchHandle {
  readonly add: (paths: Iterable<string>) => void
  readonly remove: (paths: Iterable<string>) => void
  /** `path` was added to this subscription and every later change to it will be reported to it */
  readonly covers: (path: string) => boolean
}

const DEFAULT_DEBOUNCE_MS = 20

const kindOf = (before: Signature, after: Signature, direct: boolean): PathChangeKind | undefined => {
  if (before._tag === "Missing") return after._tag === "Missing" ? undefined : "created"
  if (after._tag === "Missing") return "deleted"
  // a write that kept size and (coarse) timestamps still counts when the event named the path itself
  return direct || !sameSignature(before, after) ? "changed" : undefined
}

export class PathWatch extends Context.Service<PathWatch, {
  /**
   * Until the scope closes, `onChange` runs (one at a time, in order) for every path that was created, changed
   * or deleted; a path that exists neither before nor after (an ancestor came and went) is not reported.
   */
  readonly watch: (
    paths: Iterable<string>,
    onChange: (change: PathChange) => Effect.Effect<void>,
    options?: PathWatchOptions
  ) => Effect.Effect<PathWatchHandle, never, Scope.Scope>
  /**
   * Low level: `onEvent` runs synchronously inside the file-system event, before anything else can read the
   * path (for caches that must be invalidated first); not debounced, not classified.
   */
  readonly watchSync: (onEvent: (path: string) => void) => Effect.Effect<SyncWatchHandle, never, Scope.Scope>
  /** open directory watches (for diagnostics and benchmarks) */
  readonly watchedDirectories: Effect.Effect<number>
}>()("plugin-ledger/services/PathWatch") {
  static readonly layer: Layer.Layer<PathWatch> = Layer.effect(
    PathWatch,
    Effect.gen(function*() {
      const watcher = yield* Effect.acquireRelease(Effect.sync(makePathWatcher), (w) => Effect.sync(w.close))
      return PathWatch.of({
        watch: (paths, onChange, options = {}) => watchDebounced(watcher, paths, onChange, options),
        watchSync: (onEvent) => watchSync(watcher, onEvent),
        watchedDirectories: Effect.sync(watcher.watchedDirectories)
      })
    })
  )
}

const watchDebounced = (
  watcher: PathWatcher,
  paths: Iterable<string>,
  onChange: (change: PathChange) => Effect.Effect<void>,
  options: PathWatchOptions
): Effect.Effect<PathWatchHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS
    const changes = yield* Queue.unbounded<PathChange>()
    const known = new Map<string, { signature: Signature; readonly stop: () => void }>()
    const dirty = new Map<string, boolean>()
    let timer: ReturnType<typeof setTimeout> | undefined
    let active = true

    const flush = () => {
      timer = undefined
      const batch = [...dirty]
      dirty.clear()
      for (const [path, direct] of batch) {
        const entry = known.get(path)
        if (entry === undefined) continue
        const after = signatureOf(path, true)
        const kind = options.children === true && after._tag === "Entry" && entry.signature._tag === "Entry"
          ? "changed"
          : kindOf(entry.signature, after, direct)
        entry.signature = after
        if (kind !== undefined) Queue.offerUnsafe(changes, { path, kind })
      }
    }
    const listener = (path: string, direct: boolean) => {
      if (!active) return
      dirty.set(path, dirty.get(path) === true || direct)
      if (timer === undefined) {
        timer = setTimeout(flush, debounceMs)
        timer.unref()
      }
    }
    const add = (more: Iterable<string>, seen?: ReadonlyMap<string, Signature>) => {
      if (!active) return
      for (const path of more) {
        const absolute = NodePath.resolve(path)
        if (known.has(absolute)) continue
        // the signature first: a change made after it is either seen by the watch or by the next look
        const earlier = seen?.get(absolute)
        const signature = earlier ?? signatureOf(absolute, true)
        known.set(absolute, { signature, stop: watcher.watch(absolute, listener, { children: options.children === true }) })
        // looked at before the watch and different now: reported as the watch would have reported it
        if (earlier !== undefined && !sameSignature(earlier, signatureOf(absolute, true))) listener(absolute, false)
      }
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        active = false
        if (timer !== undefined) clearTimeout(timer)
        for (const entry of known.values()) entry.stop()
        known.clear()
      })
    )
    add(paths)
    yield* Queue.take(changes).pipe(
      Effect.flatMap((change) =>
        onChange(change).pipe(
          Effect.catchCause((cause) => Effect.logError("a file watch handler failed", { path: change.path }, Cause.pretty(cause)))
        )
      ),
      Effect.forever,
      Effect.forkScoped({ startImmediately: true })
    )
    return { add: (more, seen) => Effect.sync(() => add(more, seen)) }
  })

const watchSync = (watcher: PathWatcher, onEvent: (path: string) => void): Effect.Effect<SyncWatchHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const stops = new Map<string, () => void>()
    let active = true
    const listener = (path: string) => {
      if (active) onEvent(path)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        active = false
        for (const stop of stops.values()) stop()
        stops.clear()
      })
    )
    return {
      add: (paths) => {
        if (!active) return
        for (const path of paths) {
          const absolute = NodePath.resolve(path)
          if (!stops.has(absolute)) stops.set(absolute, watcher.watch(absolute, listener))
        }
      },
      remove: (paths) => {
        for (const path of paths) {
          const absolute = NodePath.resolve(path)
          stops.get(absolute)?.()
          stops.delete(absolute)
        }
      },
      covers: (path) => {
        const absolute = NodePath.resolve(path)
        return active && stops.has(absolute) && watcher.covers(absolute)
      }
    }
  })
