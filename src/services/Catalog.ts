/**
 * The read side: `plugin/list` and `plugin/read`. Marketplaces come from discovery; `installed` and
 * `enabled` come from what Codex itself reads (the user config.toml and the cache), which the projector
 * keeps equal to the log. Reads never write.
 */
import { Context, Effect, Layer, Result } from "effect"
import * as Path from "node:path"
import { inspectConfig, type ParsedConfig } from "../adapters/ConfigToml.ts"
import { errnoCode } from "../adapters/FsPort.ts"
import { isDirectory as isDirectoryAt, readTextOrEmpty } from "../adapters/FsQueries.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { MISSING_MANIFEST, PluginBundle } from "../adapters/PluginBundle.ts"
import { readRegularFile } from "../adapters/ReadRegularFile.ts"
import { rustIoError } from "../adapters/RustIoError.ts"
import { toWireInterface } from "../domain/Manifest.ts"
import { findPlugin, parseMarketplace } from "../domain/Marketplace.ts"
import { makePluginId } from "../domain/PluginId.ts"
import type { PluginListView, PluginSummaryView } from "../domain/PluginViews.ts"
import { type EngineError, internalError, invalidRequest, type PluginReadView } from "./EngineApi.ts"
import { describeConfigProblem } from "./ConfigProblems.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { MarketplaceDiscovery } from "./MarketplaceDiscovery.ts"

const emptyConfig: ParsedConfig = { pluginsFeature: undefined, chatgptBaseUrl: undefined, plugins: new Map() }

export class Catalog extends Context.Service<Catalog, {
  readonly list: (input: { readonly cwds: ReadonlyArray<string>; readonly forceRemoteSync: boolean }) => Effect.Effect<PluginListView, EngineError>
  readonly read: (input: { readonly marketplacePath: string; readonly pluginName: string }) => Effect.Effect<PluginReadView, EngineError>
}>()("plugin-ledger/services/Catalog") {
  static readonly layer: Layer.Layer<Catalog, never, LedgerConfig | LedgerFs | MarketplaceDiscovery | PluginBundle> = Layer.effect(
    Catalog,
    Effect.gen(function*() {
      const paths = yield* LedgerConfig
      const fs = yield* LedgerFs
      const discovery = yield* MarketplaceDiscovery
      const bundles = yield* PluginBundle

      const isDirectory = (path: string): boolean => isDirectoryAt(fs, path)

      /**
       * Only the user's config.toml counts (project configs may not enable plugins). A missing file reads as
       * empty; one Codex could not load fails the request, as the reference's config reload does.
       */
      const readConfig = Effect.gen(function*() {
        let text: string
        try {
          text = readTextOrEmpty(fs, paths.configPath)
        } catch (error) {
          return yield* internalError(`failed to reload config: ${paths.configPath}: ${rustIoError(error)}`)
        }
        const { problem, config } = inspectConfig(text)
        if (problem !== undefined) return yield* internalError(describeConfigProblem(problem, paths.configPath, "reload"))
        return config ?? emptyConfig
      })

      /** The reference's active version: a `local` dir, or a dir named by a 40-hex git sha (curated installs). */
      const hasActiveVersion = (pluginId: string): boolean => {
        const at = pluginId.lastIndexOf("@")
        const dir = Path.join(paths.cacheDir, pluginId.slice(at + 1), pluginId.slice(0, at))
        if (isDirectory(Path.join(dir, "local"))) return true
        let names: ReadonlyArray<string>
        try {
          names = fs.readdirSync(dir)
        } catch {
          return false
        }
        return names.some((name) => /^[0-9a-f]{40}$/.test(name) && isDirectory(Path.join(dir, name)))
      }

      const stateOf = (config: ParsedConfig, pluginId: string) => {
        const entry = config.plugins.get(pluginId)
        return {
          installed: entry !== undefined && hasActiveVersion(pluginId),
          // with the plugins feature off, the reference reports every plugin disabled
          enabled: config.pluginsFeature === true && entry?.enabled === true
        }
      }

      const list = (input: { readonly cwds: ReadonlyArray<string>; readonly forceRemoteSync: boolean }) =>
        Effect.gen(function*() {
          const files = yield* discovery.discover({ home: paths.home, codexHome: paths.codexHome, cwds: input.cwds })
          const loaded = yield* discovery.load(files)
          const config = yield* readConfig
          const view: PluginListView = {
            marketplaces: loaded.marketplaces.map((m) => ({
              name: m.name,
              path: m.path,
              interface: m.interface,
              plugins: m.plugins.map((p): PluginSummaryView => {
                // every summary built with the same literal (one object shape), which JSON.stringify walks fastest
                const state = stateOf(config, p.id)
                return {
                  id: p.id,
                  name: p.name,
                  source: { type: "local", path: p.sourcePath },
                  installed: state.installed,
                  enabled: state.enabled,
                  installPolicy: p.installPolicy,
                  authPolicy: p.authPolicy,
                  interface: p.interface
                }
              })
            })),
            // the remote sync runs in the Engine before the listing (`forceRemoteSync`); here there is none
            remoteSyncError: null
          }
          return loaded.errors.length === 0 ? view : { ...view, marketplaceLoadErrors: loaded.errors }
        })

      const read = (input: { readonly marketplacePath: string; readonly pluginName: string }) =>
        Effect.gen(function*() {
          let text: string
          try {
            text = readRegularFile(fs, input.marketplacePath).toString("utf8")
          } catch (error) {
            if (errnoCode(error) === "ENOENT") {
              return yield* invalidRequest(`marketplace file \`${input.marketplacePath}\` does not exist`)
            }
            return yield* internalError(`failed to read plugin details: failed to read marketplace file: ${rustIoError(error)}`)
          }
          const marketplace = parseMarketplace(input.marketplacePath, text)
          if (Result.isFailure(marketplace)) return yield* invalidRequest(marketplace.failure.message)
          const entry = findPlugin(marketplace.success, input.pluginName)
          if (Result.isFailure(entry)) return yield* invalidRequest(entry.failure.message)
          const id = makePluginId(entry.success.name, marketplace.success.name)
          if (Result.isFailure(id)) return yield* invalidRequest(id.failure.message)
          const bundle = yield* bundles.read(entry.success.sourceDir).pipe(
            Effect.mapError(() => invalidRequest(MISSING_MANIFEST))
          )
          const config = yield* readConfig
          const summary: PluginSummaryView = {
            id: entry.success.id,
            name: entry.success.name,
            source: { type: "local", path: entry.success.sourceDir },
            ...stateOf(config, entry.success.id),
            installPolicy: entry.success.installPolicy,
            authPolicy: entry.success.authPolicy,
            interface: toWireInterface(bundle.manifest, entry.success.category ?? null)
          }
          return {
            plugin: {
              marketplaceName: marketplace.success.name,
              marketplacePath: input.marketplacePath,
              summary,
              description: bundle.manifest.description,
              skills: bundle.skills,
              apps: bundle.apps,
              mcpServers: bundle.mcpServers
            }
          }
        })

      return Catalog.of({ list, read })
    })
  )
}
