// The hooks of count.mjs: appends every loaded module's URL to a file, synchronously,
// so the list is complete when the process exits.
import { appendFileSync } from "node:fs"

let log
export const initialize = (data) => {
  log = data.log
}
export const load = async (url, context, next) => {
  appendFileSync(log, url + "\n")
  return next(url, context)
}
