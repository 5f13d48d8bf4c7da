/**
 * A ConfigProvider that cannot read some variables (as a secret manager that is down would):
 * `unreadable` fail with invalid data, every other variable is unset.
 */
import { ConfigError, ConfigProvider, ConfigProviderPathPatch, Effect, HashSet } from "effect"

export const unreadableConfig = (unreadable: ReadonlyArray<string>): ConfigProvider.ConfigProvider =>
  ConfigProvider.fromFlat(ConfigProvider.makeFlat({
    load: (path) =>
      Effect.fail(
        unreadable.includes(path[0]!)
          ? ConfigError.InvalidData([...path], "unreadable")
          : ConfigError.MissingData([...path], "unset")
      ),
    enumerateChildren: () => Effect.succeed(HashSet.empty()),
    patch: ConfigProviderPathPatch.empty
  }))
