/**
 * Listing fragments: `serve`'s first listing straight from the discovery snapshot. With each marketplace file the
 * snapshot keeps that marketplace's `plugin/list` JSON up to its plugins, and with each entry its plugin id and, when
 * listed, its summary's JSON split where the plugin's state (`installed`, `enabled`: config.toml and the cache, read
 * live) goes in, rendered from the same values by the same functions as the answer itself (`pluginSummary`). When every
 * file the listing would read still looks exactly as the snapshot saw it, the answer is these fragments joined, with
 * the loader's own rules applied in the same order (a plugin id's first entry wins across files, `policy.products`
 * hides, a marketplace left empty is omitted): no parse, no objects. Anything else (a file not in the snapshot, one
 * changed, one that failed to parse) leaves the whole listing to the loader.
 */
import type { MarketplaceFragment } from "../adapters/ListingFragmentFormat.ts"
import { type Observation, observeMatching, type StoredObservation } from "../adapters/StatSignature.ts"
import type { PluginManifestInterface } from "../domain/Manifest.ts"
import { isListedForProduct, type Marketplace } from "../domain/Marketplace.ts"
import { loadedPlugin, pluginSummary } from "./PluginListing.ts"

/** where a summary, rendered with both flags false, is cut */
const STATE = "\"installed\":false,\"enabled\":false,"

/**
 * The fragment of `marketplace` (parsed from `key`, decided from `observations`), with the interfaces of its listed
 * entries' manifests as known (`manifestOf`: its value and what it was decided from; not known: an entry another
 * file's entry of the same id hid, which a listing of other files may need).
 */
export const marketplaceFragment = (
  key: string,
  observations: ReadonlyArray<Observation>,
  marketplace: Marketplace,
  manifestOf: (root: string) => { readonly value: PluginManifestInterface | null; readonly observations: ReadonlyArray<Observation> } | undefined
): MarketplaceFragment<Observation> | undefined => {
  // the marketplace view's literal (`marketplaceView`) with no plugins, cut before its `]}`
  const head = JSON.stringify({ name: marketplace.name, path: marketplace.path, interface: marketplace.interface, plugins: [] }).slice(0, -2)
  const entries: Array<MarketplaceFragment<Observation>["entries"][number]> = []
  for (const entry of marketplace.plugins) {
    if (!isListedForProduct(entry)) {
      entries.push({ id: entry.id, listed: false, summary: undefined })
      continue
    }
    const manifest = manifestOf(entry.sourceDir)
    if (manifest === undefined) {
      entries.push({ id: entry.id, listed: true, summary: undefined })
      continue
    }
    // the JSON escapes every quote inside a string, so the first match is the flags themselves
    const text = JSON.stringify(pluginSummary(loadedPlugin(entry, manifest.value), { installed: false, enabled: false }))
    const at = text.indexOf(STATE)
    if (at < 0) return undefined
    const summary = { root: entry.sourceDir, observations: manifest.observations, head: text.slice(0, at), tail: text.slice(at + STATE.length) }
    entries.push({ id: entry.id, listed: true, summary })
  }
  return { key, observations, head, entries }
}

/** every stored lookup still shows what it showed (one `stat` each) */
const stillHolds = (observations: ReadonlyArray<StoredObservation>): boolean => {
  for (let i = 0; i < observations.length; i++) {
    const observation = observations[i]
    if (observation === undefined || observeMatching(observation) === undefined) return false
  }
  return true
}

/** What rendering has met so far: plugin ids (a later entry of one is skipped), plugin roots checked. */
export interface RenderState {
  readonly seen: Set<string>
  /** plugin root -> its manifest's lookups hold (two entries may share a root) */
  readonly roots: Map<string, boolean>
}

export const makeRenderState = (): RenderState => ({ seen: new Set(), roots: new Map() })

/**
 * The JSON of the marketplace file `file` from its fragment (`fragmentOf`) and each plugin's state (`stateOf`), the
 * loader's rules applied with `state`: null when it lists nothing (the marketplace is omitted), undefined when it has
 * no fragment or a lookup its fragment was decided from does not hold any more (`state.seen` is then as it was).
 */
export const renderFragment = (
  file: string,
  fragmentOf: (file: string) => MarketplaceFragment<StoredObservation> | undefined,
  stateOf: (pluginId: string) => { readonly installed: boolean; readonly enabled: boolean },
  state: RenderState
): string | null | undefined => {
  const fragment = fragmentOf(file)
  if (fragment === undefined || !stillHolds(fragment.observations)) return undefined
  // the entries this file lists, checked before any id is taken as seen
  const listed: Array<{ readonly id: string; readonly head: string; readonly tail: string }> = []
  const mine = new Set<string>()
  for (let i = 0; i < fragment.entries.length; i++) {
    const entry = fragment.entries[i]
    if (entry === undefined || state.seen.has(entry.id) || mine.has(entry.id)) continue
    mine.add(entry.id)
    if (!entry.listed) continue
    const summary = entry.summary
    if (summary === undefined) return undefined
    let holds = state.roots.get(summary.root)
    if (holds === undefined) state.roots.set(summary.root, holds = stillHolds(summary.observations))
    if (!holds) return undefined
    listed.push({ id: entry.id, head: summary.head, tail: summary.tail })
  }
  for (const id of mine) state.seen.add(id)
  if (listed.length === 0) return null
  const plugins = listed.map(({ id, head, tail }) => {
    const { installed, enabled } = stateOf(id)
    return `${head}"installed":${installed},"enabled":${enabled},${tail}`
  })
  return `${fragment.head}${plugins.join(",")}]}`
}

/** The JSON of each listed marketplace of `files` (see `renderFragment`), or undefined when any file cannot be. */
export const renderFragments = (
  files: ReadonlyArray<string>,
  fragmentOf: (file: string) => MarketplaceFragment<StoredObservation> | undefined,
  stateOf: (pluginId: string) => { readonly installed: boolean; readonly enabled: boolean }
): ReadonlyArray<string> | undefined => {
  const state = makeRenderState()
  const rendered: Array<string> = []
  for (const file of files) {
    const text = renderFragment(file, fragmentOf, stateOf, state)
    if (text === undefined) return undefined
    if (text !== null) rendered.push(text)
  }
  return rendered
}
