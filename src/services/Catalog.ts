/**
 * The read side: `plugin/list` and `plugin/read`. Marketplaces come from discovery; `installed` and
 * `enabled` come from what Codex itself reads (the user config.toml and the cache), which the projector
 * keeps equal to the log. Reads never write.
 */
import { Context, Effect, Layer, Result } from "effect"
import { errnoCode } from "../adapters/FsPort.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { MISSING_MANIFEST, PluginBundle } from "../adapters/PluginBundle.ts"
import { readRegularFile } from "../adapters/ReadRegularFile.ts"
import { rustIoError } from "../adapters/RustIoError.ts"
import { toWireInterface } from "../domain/Manifest.ts"
import { findPlugin, type Marketplace, parseMarketplace } from "../domain/Marketplace.ts"
import { makePluginId } from "../domain/PluginId.ts"
import type { PluginListView, PluginSummaryView } from "../domain/PluginViews.ts"
import { type EngineError, internalError, invalidRequest, type PluginReadView } from "./EngineApi.ts"
import { LedgerConfig } from "./LedgerConfig.ts"
import { MarketplaceDiscovery } from "./MarketplaceDiscovery.ts"
import { listingView, pluginStateOf, readListingConfig } from "./PluginListing.ts"

export class Catalog extends Context.Service<Catalog, {
  readonly list: (input: { readonly cwds: ReadonlyArray<string>; readonly forceRemoteSync: boolean }) => Effect.Effect<PluginListView, EngineError>
  readonly read: (input: { readonly marketplacePath: string; readonly pluginName: string }) => Effect.Effect<PluginReadView, EngineError>
  /** a marketplace file as a listing parsed it whole, while unchanged (`MarketplaceDiscovery.known`) */
  readonly knownMarketplace: (path: string) => Marketplace | undefined
}>()("plugin-ledger/services/Catalog") {
  static readonly layer: Layer.Layer<Catalog, never, LedgerConfig | LedgerFs | MarketplaceDiscovery | PluginBundle> = Layer.effect(
    Catalog,
    Effect.gen(function*() {
      const paths = yield* LedgerConfig
      const fs = yield* LedgerFs
      const discovery = yield* MarketplaceDiscovery
      const bundles = yield* PluginBundle

      const readConfig = Effect.suspend(() => {
        const read = readListingConfig(fs, paths.configPath)
        return "error" in read ? Effect.fail(internalError(read.error)) : Effect.succeed(read.config)
      })

      const list = (input: { readonly cwds: ReadonlyArray<string>; readonly forceRemoteSync: boolean }) =>
        Effect.gen(function*() {
          const files = yield* discovery.discover({ home: paths.home, codexHome: paths.codexHome, cwds: input.cwds })
          const loaded = yield* discovery.load(files)
          return listingView(fs, paths.cacheDir, loaded, yield* readConfig)
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
            ...pluginStateOf(fs, paths.cacheDir, config, entry.success.id),
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

      return Catalog.of({ list, read, knownMarketplace: discovery.known })
    })
  )
}
