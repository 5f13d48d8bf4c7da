// B4, baseline: what any Effect application already pays: import effect and log once.
import { Effect } from "effect"

await Effect.runPromise(Effect.log("tasks.dry_run"))
