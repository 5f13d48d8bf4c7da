// B4, baseline: what any Effect application already pays: import effect and log once.
import { Effect } from "effect"
import { done } from "./done.mjs"

await Effect.runPromise(Effect.log("tasks.dry_run"))
done()
