/**
 * The methods of `google.cloud.tasks.v2.CloudTasks` over the {@link Engine}, for every transport
 * (gRPC, REST): each takes a request as protobuf.js decodes it with the options of
 * `@grpc/proto-loader` (camelCase fields, enums as strings, bytes as `Buffer`, defaults set),
 * calls the engine, and returns the response in the same shape (queues and tasks in `BASIC` or
 * `FULL` view), or throws the engine's {@link ApiError}.
 *
 * @internal
 */
import { QUEUE_DEFAULTS } from "../limits.js"
import { Errors } from "../engine/apiError.js"
import type { Engine } from "../engine/engine.js"
import {
  type AttemptRecord,
  DEFAULT_QUEUE_SETTINGS,
  type HttpMethodName,
  type NewTask,
  type SettingsPatch,
  type StoredQueue,
  type StoredTask
} from "../engine/model.js"
import { burstSizeFor } from "../engine/tokenBucket.js"

// -----------------------------------------------------------------------------------------
// Wire shapes (decoded with defaults: absent messages are null, absent scalars are zero)

interface SecondsNanos {
  readonly seconds: number | string
  readonly nanos: number
}

interface WireRateLimits {
  readonly maxDispatchesPerSecond: number
  readonly maxBurstSize: number
  readonly maxConcurrentDispatches: number
}

interface WireRetryConfig {
  readonly maxAttempts: number
  readonly maxRetryDuration: SecondsNanos | null
  readonly minBackoff: SecondsNanos | null
  readonly maxBackoff: SecondsNanos | null
  readonly maxDoublings: number
}

interface WireQueue {
  readonly name: string
  readonly rateLimits: WireRateLimits | null
  readonly retryConfig: WireRetryConfig | null
  readonly stackdriverLoggingConfig: { readonly samplingRatio: number } | null
}

interface WireHttpRequest {
  readonly url: string
  readonly httpMethod: string
  readonly headers: Record<string, string> | null
  readonly body: Buffer | null
  readonly oidcToken?: { readonly serviceAccountEmail: string; readonly audience: string } | null
  readonly oauthToken?: { readonly serviceAccountEmail: string; readonly scope: string } | null
}

interface WireAppEngineHttpRequest {
  readonly httpMethod: string
  readonly appEngineRouting: { readonly service: string; readonly version: string; readonly instance: string } | null
  readonly relativeUri: string
  readonly headers: Record<string, string> | null
  readonly body: Buffer | null
}

interface WireTask {
  readonly name: string
  readonly appEngineHttpRequest?: WireAppEngineHttpRequest | null
  readonly httpRequest?: WireHttpRequest | null
  readonly scheduleTime: SecondsNanos | null
  readonly dispatchDeadline: SecondsNanos | null
}

type View = "VIEW_UNSPECIFIED" | "BASIC" | "FULL"

// -----------------------------------------------------------------------------------------
// Conversions

const toMs = (value: SecondsNanos | null | undefined): number | undefined =>
  value === null || value === undefined ? undefined : Number(value.seconds) * 1000 + value.nanos / 1e6

const fromMs = (ms: number): { seconds: number; nanos: number } => {
  const seconds = Math.floor(ms / 1000)
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) }
}

const timestamp = (ms: number | undefined) => (ms === undefined ? null : fromMs(ms))

const HTTP_METHODS: ReadonlyArray<HttpMethodName> = ["POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]

const snake = (path: string): string => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** The queue fields that `CreateQueue` and `UpdateQueue` set, and the setting each one is. */
const QUEUE_FIELDS = {
  "rate_limits.max_dispatches_per_second": "maxDispatchesPerSecond",
  "rate_limits.max_concurrent_dispatches": "maxConcurrentDispatches",
  "retry_config.max_attempts": "maxAttempts",
  "retry_config.max_retry_duration": "maxRetryDurationMs",
  "retry_config.min_backoff": "minBackoffMs",
  "retry_config.max_backoff": "maxBackoffMs",
  "retry_config.max_doublings": "maxDoublings",
  "stackdriver_logging_config.sampling_ratio": "samplingRatio"
} as const satisfies Record<string, keyof SettingsPatch>

type QueueField = keyof typeof QUEUE_FIELDS

const FIELD_NAMES = Object.keys(QUEUE_FIELDS) as ReadonlyArray<QueueField>

/** Fields an update mask may name that change nothing. */
const IGNORED_FIELDS = new Set(["name", "state", "purge_time", "rate_limits.max_burst_size", "app_engine_routing_override"])

/** The value of a masked field left at its zero value: the default. */
const DEFAULTS: Required<SettingsPatch> = { ...QUEUE_DEFAULTS, samplingRatio: DEFAULT_QUEUE_SETTINGS.samplingRatio }

/**
 * The settings a queue message carries. Without a mask, fields left at their zero value are
 * not set; with a mask, every masked field is set, a zero value meaning the default.
 */
export const settingsPatch = (queue: WireQueue, mask: ReadonlyArray<string> | undefined): SettingsPatch => {
  const rate = queue.rateLimits
  const retry = queue.retryConfig
  const values: Record<keyof SettingsPatch, number | undefined> = {
    maxDispatchesPerSecond: rate?.maxDispatchesPerSecond || undefined,
    maxConcurrentDispatches: rate?.maxConcurrentDispatches || undefined,
    maxAttempts: retry?.maxAttempts || undefined,
    maxRetryDurationMs: toMs(retry?.maxRetryDuration),
    minBackoffMs: toMs(retry?.minBackoff),
    maxBackoffMs: toMs(retry?.maxBackoff),
    maxDoublings: retry?.maxDoublings || undefined,
    samplingRatio: queue.stackdriverLoggingConfig?.samplingRatio
  }
  if (mask === undefined || mask.length === 0) {
    const patch: { -readonly [K in keyof SettingsPatch]: number } = {}
    for (const field of FIELD_NAMES) {
      const key = QUEUE_FIELDS[field]
      const value = values[key]
      if (value !== undefined) patch[key] = value
    }
    return patch
  }
  const paths = mask.map(snake)
  const covers = (field: QueueField, path: string) => field === path || field.startsWith(`${path}.`)
  for (const path of paths) {
    if (!IGNORED_FIELDS.has(path) && !FIELD_NAMES.some((field) => covers(field, path))) {
      throw Errors.unsupportedUpdate(path)
    }
  }
  const patch: { -readonly [K in keyof SettingsPatch]: number } = {}
  for (const field of FIELD_NAMES.filter((field) => paths.some((path) => covers(field, path)))) {
    const key = QUEUE_FIELDS[field]
    patch[key] = values[key] ?? DEFAULTS[key]
  }
  return patch
}

/** A queue as the API returns it. */
export const queueToWire = (queue: StoredQueue) => {
  const { rateLimits, retryConfig, samplingRatio } = queue.settings
  return {
    name: queue.name,
    rateLimits: {
      maxDispatchesPerSecond: rateLimits.maxDispatchesPerSecond,
      maxBurstSize: burstSizeFor(rateLimits.maxDispatchesPerSecond),
      maxConcurrentDispatches: rateLimits.maxConcurrentDispatches
    },
    retryConfig: {
      maxAttempts: retryConfig.maxAttempts,
      maxRetryDuration: fromMs(retryConfig.maxRetryDurationMs),
      minBackoff: fromMs(retryConfig.minBackoffMs),
      maxBackoff: fromMs(retryConfig.maxBackoffMs),
      maxDoublings: retryConfig.maxDoublings
    },
    state: queue.state,
    purgeTime: timestamp(queue.purgeTime),
    stackdriverLoggingConfig: samplingRatio > 0 ? { samplingRatio } : null
  }
}

const attemptToWire = (attempt: AttemptRecord | undefined) =>
  attempt === undefined ? null : {
    scheduleTime: timestamp(attempt.scheduleTime),
    dispatchTime: timestamp(attempt.dispatchTime),
    responseTime: timestamp(attempt.responseTime),
    responseStatus: attempt.responseStatus === undefined
      ? null
      : { code: attempt.responseStatus.code, message: attempt.responseStatus.message, details: [] }
  }

const headerRecord = (headers: ReadonlyArray<readonly [string, string]>): Record<string, string> => {
  const record: Record<string, string> = {}
  for (const [key, value] of headers) record[key] = value
  return record
}

const methodOf = (method: string): HttpMethodName | "HTTP_METHOD_UNSPECIFIED" =>
  HTTP_METHODS.find((m) => m === method) ?? "HTTP_METHOD_UNSPECIFIED"

/**
 * A task as the API returns it; `BASIC` leaves the body out. `appEngineHost` is the host an App
 * Engine task is sent to (the emulator's stand-in for App Engine).
 */
export const taskToWire = (task: StoredTask, view: View, appEngineHost: string) => {
  const full = view === "FULL"
  const request = task.request
  const target = request._tag === "Http"
    ? {
      httpRequest: {
        url: request.url,
        httpMethod: request.httpMethod,
        headers: headerRecord(request.headers),
        ...(full ? { body: request.body } : {}),
        ...(request.oidcToken !== undefined ? { oidcToken: request.oidcToken } : {}),
        ...(request.oauthToken !== undefined ? { oauthToken: request.oauthToken } : {})
      }
    }
    : {
      appEngineHttpRequest: {
        httpMethod: request.httpMethod,
        appEngineRouting: { ...request.routing, host: appEngineHost },
        relativeUri: request.relativeUri,
        headers: headerRecord(request.headers),
        ...(full ? { body: request.body } : {})
      }
    }
  return {
    name: task.name,
    ...target,
    scheduleTime: fromMs(task.scheduleTime),
    createTime: fromMs(task.createTime),
    dispatchDeadline: fromMs(task.dispatchDeadlineMs),
    dispatchCount: task.dispatchCount,
    responseCount: task.responseCount,
    firstAttempt: task.firstAttempt === undefined ? null : { dispatchTime: timestamp(task.firstAttempt.dispatchTime) },
    lastAttempt: attemptToWire(task.lastAttempt),
    view: full ? "FULL" : "BASIC"
  }
}

/** A task as `CreateTask` carries it. */
export const newTask = (task: WireTask | null): NewTask => {
  const http = task?.httpRequest ?? null
  const appEngine = task?.appEngineHttpRequest ?? null
  return {
    name: task?.name ?? "",
    httpRequest: http === null ? undefined : {
      url: http.url,
      httpMethod: methodOf(http.httpMethod),
      headers: Object.entries(http.headers ?? {}),
      body: http.body ?? Buffer.alloc(0),
      oidcToken: http.oidcToken == null
        ? undefined
        : { serviceAccountEmail: http.oidcToken.serviceAccountEmail, audience: http.oidcToken.audience },
      oauthToken: http.oauthToken == null
        ? undefined
        : { serviceAccountEmail: http.oauthToken.serviceAccountEmail, scope: http.oauthToken.scope }
    },
    appEngineHttpRequest: appEngine === null ? undefined : {
      relativeUri: appEngine.relativeUri,
      routing: {
        service: appEngine.appEngineRouting?.service ?? "",
        version: appEngine.appEngineRouting?.version ?? "",
        instance: appEngine.appEngineRouting?.instance ?? ""
      },
      httpMethod: methodOf(appEngine.httpMethod),
      headers: Object.entries(appEngine.headers ?? {}),
      body: appEngine.body ?? Buffer.alloc(0)
    },
    scheduleTime: toMs(task?.scheduleTime),
    dispatchDeadlineMs: toMs(task?.dispatchDeadline)
  }
}

// -----------------------------------------------------------------------------------------
// Handlers

/** A method of the service: the decoded request in, the response out; throws {@link ApiError}. */
export type Method = (request: never) => unknown

const EMPTY = {}

/** The methods of `google.cloud.tasks.v2.CloudTasks`, by their names in the proto. */
export const cloudTasksMethods = (engine: Engine): Record<string, Method> => {
  const task = (stored: StoredTask, view: View) => taskToWire(stored, view, new URL(engine.urlOf(stored)).host)
  return {
    ListQueues: (request: { parent: string; pageSize: number; pageToken: string }) => {
      const page = engine.listQueues(request.parent, request.pageSize, request.pageToken)
      return { queues: page.items.map(queueToWire), nextPageToken: page.nextPageToken }
    },
    GetQueue: (request: { name: string }) => queueToWire(engine.getQueue(request.name)),
    CreateQueue: (request: { parent: string; queue: WireQueue | null }) => {
      const queue = request.queue
      if (queue === null) throw Errors.invalidQueueName()
      return queueToWire(engine.createQueue(request.parent, queue.name, settingsPatch(queue, undefined)))
    },
    UpdateQueue: (request: { queue: WireQueue | null; updateMask: { paths: Array<string> } | null }) => {
      const queue = request.queue
      if (queue === null) throw Errors.invalidQueueName()
      return queueToWire(engine.updateQueue(queue.name, settingsPatch(queue, request.updateMask?.paths)))
    },
    DeleteQueue: (request: { name: string }) => {
      engine.deleteQueue(request.name)
      return EMPTY
    },
    PurgeQueue: (request: { name: string }) => queueToWire(engine.purgeQueue(request.name)),
    PauseQueue: (request: { name: string }) => queueToWire(engine.pauseQueue(request.name)),
    ResumeQueue: (request: { name: string }) => queueToWire(engine.resumeQueue(request.name)),
    GetIamPolicy: (request: { resource: string }) => {
      const queue = engine.getQueue(request.resource)
      return queue.iamPolicy ?? { version: 1, bindings: [], etag: Buffer.from("BwXemulator") }
    },
    SetIamPolicy: (request: { resource: string; policy: unknown }) => {
      const queue = engine.getQueue(request.resource)
      queue.iamPolicy = request.policy ?? { version: 1, bindings: [] }
      return queue.iamPolicy
    },
    TestIamPermissions: (request: { resource: string; permissions: Array<string> }) => {
      engine.getQueue(request.resource)
      return { permissions: request.permissions }
    },
    ListTasks: (request: { parent: string; responseView: View; pageSize: number; pageToken: string }) => {
      const page = engine.listTasks(request.parent, request.pageSize, request.pageToken)
      return { tasks: page.items.map((stored) => task(stored, request.responseView)), nextPageToken: page.nextPageToken }
    },
    GetTask: (request: { name: string; responseView: View }) => task(engine.getTask(request.name), request.responseView),
    CreateTask: (request: { parent: string; task: WireTask | null; responseView: View }) =>
      task(engine.createTask(request.parent, newTask(request.task)), request.responseView),
    DeleteTask: (request: { name: string }) => {
      engine.deleteTask(request.name)
      return EMPTY
    },
    RunTask: (request: { name: string; responseView: View }) => task(engine.runTask(request.name), request.responseView)
  }
}
