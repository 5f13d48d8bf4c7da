/**
 * The official `@google-cloud/tasks` client pointed at a Cloud Tasks emulator: plaintext gRPC
 * with the grpc-js that the client's own `google-gax` loads (so no second copy of grpc-js), no
 * Google credentials and no auth lookup (the universe domain is given), no network beyond 127.0.0.1.
 */
import { CloudTasksClient } from "@google-cloud/tasks"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
const gax = createRequire(require.resolve("@google-cloud/tasks"))("google-gax") as typeof import("google-gax")

/** The client's gRPC module (google-gax's `grpc`), e.g. for `grpc.status` codes. */
export const grpc = gax.grpc

/** A client for the emulator at `host` (`"127.0.0.1:<port>"`). Close it with `client.close()`. */
export const makeClient = (host: string): CloudTasksClient => {
  const index = host.lastIndexOf(":")
  return new CloudTasksClient({
    servicePath: host.slice(0, index),
    port: Number(host.slice(index + 1)),
    sslCreds: gax.grpc.credentials.createInsecure(),
    // Without an explicit universe domain, google-auth-library asks the GCE metadata server
    // (network, and a MetadataLookupWarning) before the first call.
    universeDomain: "googleapis.com"
  })
}
