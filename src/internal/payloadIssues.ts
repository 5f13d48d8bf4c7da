/**
 * Describing a Schema failure by field, never by value: for the refusal of a payload
 * on enqueue (`DispatchError`) and on receipt (`TaskPayloadError`, the server's 422).
 */
import type { ParseResult } from "effect"
import { type PayloadIssue, TaskPayloadError } from "../Errors.js"

const identifier = /^[A-Za-z_$][\w$]*$/

/** `user_id`, `items[0].name`, `["odd key"]`; `payload` for the whole payload. */
const renderPath = (path: ReadonlyArray<PropertyKey>): string => {
  if (path.length === 0) return "payload"
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else if (typeof key === "string" && identifier.test(key)) out += out === "" ? key : `.${key}`
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out
}

/**
 * The leaf problems of a parse issue. Messages name the field and what the Schema
 * expected; they never include the value that was received (it may be private).
 */
export const payloadIssues = (issue: ParseResult.ParseIssue): ReadonlyArray<PayloadIssue> => {
  const out: Array<PayloadIssue> = []
  const visit = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): void => {
    switch (issue._tag) {
      case "Pointer":
        return visit(issue.issue, path.concat(Array.isArray(issue.path) ? issue.path : [issue.path as PropertyKey]))
      case "Composite": {
        const issues = Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue]
        for (const inner of issues) visit(inner, path)
        return
      }
      case "Refinement":
        if (issue.kind === "From") return visit(issue.issue, path)
        out.push({ path: renderPath(path), problem: `must be ${String(issue.ast)}` })
        return
      case "Transformation":
        if (issue.kind !== "Transformation") return visit(issue.issue, path)
        out.push({ path: renderPath(path), problem: "could not be decoded" })
        return
      case "Type":
        out.push({ path: renderPath(path), problem: `must be ${String(issue.ast)}` })
        return
      case "Missing":
        out.push({ path: renderPath(path), problem: "is missing" })
        return
      case "Unexpected":
        out.push({ path: renderPath(path), problem: "is not allowed" })
        return
      case "Forbidden":
        out.push({ path: renderPath(path), problem: "could not be decoded" })
        return
    }
  }
  visit(issue, [])
  return out
}

/** `filename must be string; user_id is missing`. */
export const describeIssues = (issues: ReadonlyArray<PayloadIssue>): string =>
  issues.map(({ path, problem }) => `${path} ${problem}`).join("; ")

/** The refusal of a payload for `path` that failed its Schema. */
export const taskPayloadError = (path: string, error: ParseResult.ParseError): TaskPayloadError => {
  const issues = payloadIssues(error.issue)
  return new TaskPayloadError({ message: `Invalid payload for ${path}: ${describeIssues(issues)}`, path, issues })
}

