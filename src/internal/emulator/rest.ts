/**
 * The REST surface of the emulator (HTTP/1.1 JSON), beside gRPC on the same port:
 *
 * - the v2 API at `/v2/…`: every method of `google.cloud.tasks.v2.CloudTasks`, routed by the
 *   `google.api.http` rules of the service's own proto (path parameters, `body`, query
 *   parameters), with the proto3 JSON mapping in both directions, as the official client in
 *   REST mode (`fallback: true`), `curl` and `gcloud` send it;
 * - the Firebase emulator's task path, `POST /projects/<p>/locations/<l>/queues/<q>/tasks`
 *   (body `{ task }`) and `DELETE …/tasks/<id>`, where firebase-admin sends tasks when
 *   `CLOUD_TASKS_EMULATOR_HOST` is set. A task it sends without a URL goes to the configured
 *   Firebase target.
 *
 * Requests become the same objects the gRPC server decodes, and run through the same
 * {@link Method}s, so both transports answer alike. Failures are Google's JSON error.
 *
 * @internal
 */
import type * as http from "node:http"
import { ApiError, Status } from "../engine/apiError.js"
import { restErrorBody, toApiError } from "./apiStatus.js"
import { type GrpcRuntime, OBJECT_OPTIONS, type ProtoField, type ProtoMethod, type ProtoType } from "./grpcRuntime.js"
import type { Method } from "./service.js"
import { requestUrl } from "./requestUrl.js"

/** The largest request body the REST surface reads (a task's body is at most 1 MB, as base64 in JSON). */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024

/** One route: a method, an HTTP verb and a path template compiled to a pattern. */
interface Route {
  readonly method: ProtoMethod
  readonly verb: string
  readonly pattern: RegExp
  /** The request field (dotted, camelCase) each capture group fills. */
  readonly fields: ReadonlyArray<string>
  /** `*` (the whole body is the request), a field name, or none. */
  readonly body: string | undefined
}

const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Compiles `/v2/{name=projects/*\/locations/*}:purge` to a pattern and its fields. */
const compile = (template: string): { readonly pattern: RegExp; readonly fields: ReadonlyArray<string> } => {
  const fields: Array<string> = []
  let source = ""
  let rest = template
  for (;;) {
    const open = rest.indexOf("{")
    if (open < 0) break
    const close = rest.indexOf("}", open)
    source += escapeRegExp(rest.slice(0, open))
    const [field = "", segments = "*"] = rest.slice(open + 1, close).split("=")
    fields.push(field.split(".").map(camel).join("."))
    source += `(${
      segments.split("/").map((segment) =>
        segment === "**" ? ".+" : segment === "*" ? "[^/]+" : escapeRegExp(segment)
      ).join("/")
    })`
    rest = rest.slice(close + 1)
  }
  source += escapeRegExp(rest)
  return { pattern: new RegExp(`^${source}$`), fields }
}

const VERBS = ["get", "post", "put", "patch", "delete"] as const

/** The routes of every method that has a `google.api.http` rule. */
const routesOf = (methods: ReadonlyArray<ProtoMethod>): ReadonlyArray<Route> =>
  methods.flatMap((method) =>
    (method.parsedOptions ?? []).flatMap((option) => {
      const rule = option["(google.api.http)"] as Record<string, string> | undefined
      if (rule === undefined) return []
      return VERBS.flatMap((verb) => {
        const template = rule[verb]
        if (template === undefined) return []
        const { fields, pattern } = compile(template)
        return [{ method, verb: verb.toUpperCase(), pattern, fields, body: rule.body }]
      })
    })
  )

/** Sets `value` at the dotted `path` of `target`, creating objects on the way. */
const setPath = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown): void => {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[path[path.length - 1]!] = value
}

const NUMERIC = new Set(["double", "float", "int32", "uint32", "sint32", "fixed32", "sfixed32"])

/** The field `path` of `type`, if it exists. */
const fieldAt = (type: ProtoType, path: ReadonlyArray<string>): ProtoField | undefined => {
  let current: ProtoType | undefined = type
  let field: ProtoField | undefined
  for (const key of path) {
    if (current === undefined) return undefined
    field = current.fieldsArray.find((f) => f.name === key)
    if (field === undefined) return undefined
    current = field.resolvedType !== null && "fieldsArray" in field.resolvedType ? field.resolvedType : undefined
  }
  return field
}

/** A query parameter's value in the JSON type its field takes (an enum by name or by number). */
const queryValue = (field: ProtoField | undefined, value: string): unknown =>
  field === undefined
    ? value
    : NUMERIC.has(field.type)
    ? Number(value)
    : field.type === "bool"
    ? value === "true" || value === "1"
    : field.resolvedType !== null && "values" in field.resolvedType && /^\d+$/.test(value)
    ? Number(value)
    : value

/**
 * The request object of `route` for a call: the body (or the body's field), the path
 * parameters and the query parameters (`$`-prefixed system parameters left out), decoded with
 * the proto3 JSON mapping into the shape the gRPC server gives its handlers.
 */
const decodeRequest = (
  runtime: GrpcRuntime,
  route: Route,
  match: RegExpExecArray,
  query: URLSearchParams,
  body: unknown
): unknown => {
  const type = route.method.resolvedRequestType!
  const json: Record<string, unknown> = route.body === "*"
    ? { ...(body as Record<string, unknown>) }
    : route.body !== undefined
    ? { [camel(route.body)]: body }
    : {}
  route.fields.forEach((field, index) => setPath(json, field.split("."), pathParameter(match[index + 1]!)))
  for (const [key, value] of query) {
    if (key.startsWith("$") || key === "alt" || key === "prettyPrint" || key === "key") continue
    const path = key.split(".").map(camel)
    const field = fieldAt(type, path)
    if (field?.repeated === true) {
      const existing = path.reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], json)
      setPath(json, path, [...(Array.isArray(existing) ? existing : []), queryValue(field, value)])
    } else {
      setPath(json, path, queryValue(field, value))
    }
  }
  return fromJson(runtime, type, json)
}

/**
 * `json` decoded as a `type` into the shape the gRPC server gives its handlers; JSON that does
 * not fit the type is `INVALID_ARGUMENT`, as the service answers it.
 */
const fromJson = (runtime: GrpcRuntime, type: ProtoType, json: unknown): unknown => {
  let message: unknown
  try {
    message = runtime.json.fromProto3JSON(type, json)
  } catch (error) {
    throw new ApiError(Status.INVALID_ARGUMENT, `Invalid JSON payload received. ${error instanceof Error ? error.message : ""}`.trim())
  }
  if (message === null) throw new ApiError(Status.INVALID_ARGUMENT, "Invalid JSON payload received.")
  return type.toObject(message, OBJECT_OPTIONS)
}

/** A path parameter, percent-decoded; a malformed escape is `INVALID_ARGUMENT`. */
const pathParameter = (raw: string): string => {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new ApiError(Status.INVALID_ARGUMENT, `Invalid path parameter "${raw}".`)
  }
}

/**
 * The JSON of a method's response, in the proto3 JSON mapping; enums as numbers when the client
 * asked for them (`$alt=json;enum-encoding=int`, as the official client in REST mode does).
 */
const encodeResponse = (runtime: GrpcRuntime, method: ProtoMethod, response: unknown, numericEnums = false): unknown => {
  const type = method.resolvedResponseType!
  return runtime.json.toProto3JSON(type.fromObject(response), { numericEnums }) ?? {}
}

const wantsNumericEnums = (query: URLSearchParams): boolean => /enum-encoding=int/.test(query.get("$alt") ?? "")

const send = (response: http.ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    "content-type": "application/json; charset=UTF-8",
    "content-length": Buffer.byteLength(text)
  }).end(text)
}

/** Reads a request body up to `MAX_REQUEST_BYTES`. */
const readBody = (request: http.IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_REQUEST_BYTES) {
        reject(new ApiError(Status.INVALID_ARGUMENT, `Request payload size exceeds the limit: ${MAX_REQUEST_BYTES} bytes.`))
        request.destroy()
        return
      }
      chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

const parseJson = (body: Buffer): unknown => {
  if (body.length === 0) return {}
  try {
    return JSON.parse(body.toString("utf8"))
  } catch {
    throw new ApiError(Status.INVALID_ARGUMENT, "Invalid JSON payload received. Unexpected token.")
  }
}

/** What the REST surface needs. */
export interface RestOptions {
  readonly runtime: GrpcRuntime
  readonly methods: Readonly<Record<string, Method>>
  /** The URL of a task firebase-admin sends without one, for its queue (full name). */
  readonly firebaseTarget: (queue: string) => string
}

/** Answers a REST call; resolves `false` when the path is none of the REST surface's. */
export type RestHandler = (request: http.IncomingMessage, response: http.ServerResponse) => Promise<boolean>

const FIREBASE_TASKS = /^\/(projects\/[^/]+\/locations\/[^/]+\/queues\/[^/]+)\/tasks(?:\/([^/]+))?$/

/** The REST surface over the service's methods. */
export const makeRestHandler = (options: RestOptions): RestHandler => {
  const { methods, runtime } = options
  const service = runtime.protos.lookupService("google.cloud.tasks.v2.CloudTasks")
  const routes = routesOf(service.methodsArray)
  const byName = new Map(service.methodsArray.map((method) => [method.name, method]))

  const call = (name: string, request: unknown): unknown => {
    const method = methods[name]
    if (method === undefined) throw new ApiError(Status.UNIMPLEMENTED, `Method ${name} is not implemented.`)
    return method(request as never)
  }

  /** firebase-admin's enqueue and delete, as the v2 methods `CreateTask` and `DeleteTask`. */
  const firebase = (verb: string, queue: string, id: string | undefined, body: unknown): unknown => {
    if (verb === "POST" && id === undefined) {
      const given = typeof body === "object" && body !== null ? (body as { task?: unknown }).task : undefined
      if (typeof given !== "object" || given === null) throw new ApiError(Status.INVALID_ARGUMENT, "The request has no task.")
      const task = { ...(given as Record<string, unknown>) }
      const httpRequest = task.httpRequest as Record<string, unknown> | undefined
      if (httpRequest !== undefined && (httpRequest.url === undefined || httpRequest.url === "")) {
        task.httpRequest = { ...httpRequest, url: options.firebaseTarget(queue) }
      }
      const createTask = byName.get("CreateTask")!
      const request = fromJson(runtime, createTask.resolvedRequestType!, { parent: queue, task })
      return encodeResponse(runtime, createTask, call("CreateTask", request))
    }
    if (verb === "DELETE" && id !== undefined) {
      call("DeleteTask", { name: `${queue}/tasks/${pathParameter(id)}` })
      return {}
    }
    throw new ApiError(Status.UNIMPLEMENTED, `${verb} is not supported on the Firebase task path.`)
  }

  return async (request, response) => {
    const url = requestUrl(request)
    const verb = request.method ?? "GET"
    const firebaseMatch = FIREBASE_TASKS.exec(url.pathname)
    if (!url.pathname.startsWith("/v2/") && firebaseMatch === null) return false
    try {
      const body = parseJson(await readBody(request))
      if (firebaseMatch !== null) {
        send(response, 200, firebase(verb, firebaseMatch[1]!, firebaseMatch[2], body))
        return true
      }
      // `:verb` suffixes are part of the path; `%3A` is a colon too.
      const path = url.pathname.replace(/%3A/gi, ":")
      for (const route of routes) {
        if (route.verb !== verb) continue
        const match = route.pattern.exec(path)
        if (match === null) continue
        const decoded = decodeRequest(runtime, route, match, url.searchParams, body)
        const result = call(route.method.name, decoded)
        send(response, 200, encodeResponse(runtime, route.method, result, wantsNumericEnums(url.searchParams)))
        return true
      }
      throw new ApiError(Status.NOT_FOUND, `The requested URL ${url.pathname} was not found on this server.`)
    } catch (error) {
      const body = restErrorBody(toApiError(error))
      if (!response.headersSent) send(response, body.error.code, body)
      return true
    }
  }
}
