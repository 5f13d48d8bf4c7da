/**
 * The cloud-tasks route's work: building the Cloud Task of a request (URL, headers with
 * the secret and the trace, body, OIDC token, name, deadline, schedule), checking its
 * size, creating it (retrying a named task's transient failures), and deleting it.
 * Loaded only by a configuration that can send tasks to Cloud Tasks.
 */
import type * as CloudTasks from "@google-cloud/tasks"
import { Duration, Effect, Option, Redacted, Schedule } from "effect"
import type { CloudTasksRouteOptions } from "../CloudTasksRoute.js"
import { CancelError, DispatchError, type ImportError } from "../Errors.js"
import { Events } from "../Events.js"
import type { RouteShape, TaskInfo, TaskRequest } from "../Route.js"
import { TasksConfig } from "../TasksConfig.js"
import { errorText, grpcCode, loadCloudClient } from "./cloudClient.js"
import { MAX_TASK_BYTES, USER_AGENT } from "./limits.js"
import { loadOnce } from "./loadOnce.js"
import * as Log from "./log.js"

/** gRPC status codes the route treats specially. */
const NOT_FOUND = 5
const ALREADY_EXISTS = 6
const UNAVAILABLE = 14
const transientCodes: ReadonlySet<number> = new Set([4 /* DEADLINE_EXCEEDED */, UNAVAILABLE])

/** The bytes of `headers` with a few for each header's framing: more than the task stores for them. */
const headersSize = (headers: Readonly<Record<string, string>>) => {
  let bytes = 0
  for (const name in headers) bytes += name.length + Buffer.byteLength(headers[name]!) + 6
  return bytes
}

interface Loaded {
  readonly client: CloudTasks.v2.CloudTasksClient
  readonly encodedSize: (task: CloudTasks.protos.google.cloud.tasks.v2.ITask) => number
}

/** The cloud-tasks route over the `TasksConfig` in context; the client is closed with the scope. */
export const makeCloudRoute = Effect.fnUntraced(function*(options: CloudTasksRouteOptions) {
  const config = yield* TasksConfig
  let opened: CloudTasks.v2.CloudTasksClient | undefined
  /** The loaded client, once it is. */
  let ready: Loaded | undefined
  let closed = false
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      return opened === undefined ? Effect.void : Effect.promise(() => opened!.close())
    })
  )

  const client = yield* loadOnce(Effect.map(loadCloudClient(config, "The cloud-tasks route", options), (loaded): Loaded => {
    opened = loaded.client
    return ready = { client: loaded.client, encodedSize: (task) => loaded.Task.encode(task).finish().length }
  }))

  const authEvent: Log.Event = Option.isSome(config.auth)
    ? [Log.LogLevel.Debug, Events.tasksAuthSet, "TASKS_AUTH is set; sending it as X-Tasks-Auth"]
    : [Log.LogLevel.Warning, Events.tasksAuthMissing, "TASKS_AUTH is not set; relying on the OIDC token"]
  const transientRetries = options.transientRetries ?? 3
  /**
   * How a named task's creation is retried after a transient failure: Cloud Tasks
   * dedups a named task, so a retry cannot duplicate it. An unnamed task is never retried.
   */
  const retryTransient = (fields: Log.EventFields) =>
    Schedule.exponential(Duration.millis(100)).pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(transientRetries)),
      Schedule.whileInput((cause: unknown) => transientCodes.has(grpcCode(cause) ?? -1)),
      Schedule.intersect(Schedule.identity<unknown>()),
      Schedule.onDecision(([[, retry], cause], decision) =>
        decision._tag === "Continue"
          ? Log.warn(Events.cloudRetrying, `Transient Cloud Tasks failure; retrying: ${errorText(cause)}`, {
            ...fields,
            retry: retry + 1
          })
          : Effect.void
      )
    )

  /** Where the queues are (GOOGLE_CLOUD_PROJECT / TASKS_LOCATION), and TASKS_QUEUE's name there. */
  const queues = Option.map(config.queue, ({ location, project, queue }) => {
    const prefix = `projects/${project}/locations/${location}/queues/`
    return { prefix, default: prefix + queue }
  })

  /** Refuses `request`: the error event, then the `DispatchError`. */
  const refuse = (
    request: TaskRequest,
    event: Log.Event[1],
    reason: DispatchError["reason"],
    message: string,
    extra: { readonly grpcStatus?: number; readonly cause?: unknown } = {}
  ) =>
    Effect.zipRight(
      Log.error(event, message, {
        path: request.path,
        route: "cloud-tasks",
        reason,
        ...(extra.grpcStatus === undefined ? {} : { status: extra.grpcStatus })
      }),
      Effect.fail(new DispatchError({ message, path: request.path, route: "cloud-tasks", reason, ...extra }))
    )

  /** The client, loaded on the first dispatch; a failure to load it refuses `request`. */
  const clientFor = (request: TaskRequest) =>
    client.pipe(
      Effect.catchTags({
        ImportError: (error) =>
          Effect.zipRight(
            Log.error(Events.cloudTasksUnavailable, error.message, { path: request.path, route: "cloud-tasks" }),
            Effect.fail(error)
          ),
        UnknownException: (error) =>
          refuse(request, Events.cloudTasksClientFailed, "cloud_client_failed", `Could not create the CloudTasksClient: ${error.message}`, {
            cause: error.error
          })
      })
    )

  // Benchmarks B1 and B2: once the client is loaded, a dispatch uses it directly, and the
  // rest of a dispatch is one chain of effects rather than a generator (each `yield*`
  // allocates its own steps), with the steps' events built only when Debug is on.
  const dispatch = (request: TaskRequest): Effect.Effect<TaskInfo, DispatchError | ImportError> => {
    if (closed) {
      return refuse(request, Events.createTaskFailed, "shutting_down", `The cloud-tasks route is closed; ${request.path} was not sent`)
    }
    return ready === undefined ? Effect.flatMap(clientFor(request), (loaded) => send(loaded, request)) : send(ready, request)
  }

  /** Builds the task of `request`, checks its size and creates it with `loaded`'s client. */
  const send = (loaded: Loaded, request: TaskRequest): Effect.Effect<TaskInfo, DispatchError> => {
    if (Option.isNone(queues)) {
      const message = "GOOGLE_CLOUD_PROJECT, TASKS_LOCATION and TASKS_QUEUE are required for Cloud Tasks"
      return refuse(request, Events.configMissing, "create_task_failed", message)
    }
    const parent = Option.isSome(request.queue) ? queues.value.prefix + request.queue.value.id : queues.value.default
    const useWorker = config.workerPaths.has(request.path) && Option.isSome(config.workerUrlBase)
    const base = useWorker ? config.workerUrlBase : config.urlBase
    if (Option.isNone(base)) {
      return refuse(request, Events.baseUrlMissing, "create_task_failed", "TASKS_URL_BASE is required for Cloud Tasks")
    }
    const url = base.value + request.path
    const fields = { path: request.path, route: "cloud-tasks" }
    const urlEvent: Log.Event = [
      Log.LogLevel.Debug,
      useWorker ? Events.usingWorkerUrl : Events.usingTasksUrl,
      useWorker ? "Cloud Task will POST to WORKER_URL_BASE" : "Cloud Task will POST to TASKS_URL_BASE",
      { url }
    ]

    const task = buildTask(request, url, parent)
    // The stored task also holds a name, times and the User-Agent header the service adds.
    // Only a task whose body, URL and headers come near the limit is encoded to measure it.
    const httpRequest = task.httpRequest!
    const headers = httpRequest.headers!
    const roughSize = (httpRequest.body as Buffer).length + url.length + headersSize(headers)
    const size = roughSize < MAX_TASK_BYTES - 4096 ? roughSize : loaded.encodedSize({
      ...task,
      name: task.name ?? `${parent}/tasks/${"0".repeat(20)}`,
      httpRequest: { ...httpRequest, headers: { ...headers, "User-Agent": USER_AGENT } }
    }) + 64
    if (size > MAX_TASK_BYTES) {
      const message = `The task for ${request.path} would be ${size} bytes; Cloud Tasks accepts at most ${MAX_TASK_BYTES}`
      return Effect.zipRight(Log.events([urlEvent, authEvent], fields), refuse(request, Events.taskBuildFailed, "payload_too_large", message))
    }

    const createTask = Effect.tryPromise({
      try: () => loaded.client.createTask({ parent, task }),
      catch: (cause) => cause
    })
    const steps = Log.events([urlEvent, authEvent, [Log.LogLevel.Debug, Events.creatingTask, "Creating Cloud Task", { queue: parent }]], fields)
    return Effect.matchEffect(
      Effect.zipRight(steps, Option.isSome(request.taskId) ? Effect.retry(createTask, retryTransient(fields)) : createTask),
      {
        onFailure: (cause) => createFailed(request, cause),
        onSuccess: (response) => {
          const info: TaskInfo = { name: response[0].name ?? "", route: "cloud-tasks" }
          return Effect.as(Log.info(Events.cloudEnqueued, "Cloud Task enqueued", { path: request.path, route: "cloud-tasks", name: info.name }), info)
        }
      }
    )
  }

  /** Why creating the task of `request` failed, as the `DispatchError` of its gRPC status. */
  const createFailed = (request: TaskRequest, cause: unknown) => {
    const grpcStatus = grpcCode(cause)
    if (grpcStatus === ALREADY_EXISTS) {
      const message = `A task named ${Option.getOrElse(request.taskId, () => "")} already exists or ran recently`
      return refuse(request, Events.createTaskFailed, "already_exists", message, { grpcStatus, cause })
    }
    if (closed) {
      const message = `The cloud-tasks route closed while ${request.path} was being sent`
      return refuse(request, Events.createTaskFailed, "shutting_down", message, { cause })
    }
    const reason = grpcStatus === UNAVAILABLE ? "unreachable" : "create_task_failed"
    const message = reason === "unreachable"
      ? `Cloud Tasks could not be reached for ${request.path}: ${errorText(cause)}`
      : `Cloud Tasks refused the task for ${request.path}: ${errorText(cause)}`
    return refuse(request, Events.createTaskFailed, reason, message, {
      ...(grpcStatus === undefined ? {} : { grpcStatus }),
      cause
    })
  }

  /** The Cloud Tasks task of `request`, POSTing to `url`, with the secret and the trace on its headers. */
  const buildTask = (request: TaskRequest, url: string, parent: string) => {
    const headers: Record<string, string> = { ...request.headers, "Content-Type": "application/json" }
    if (Option.isSome(request.traceparent)) headers.traceparent = request.traceparent.value
    // The secret goes on the wire here and nowhere else.
    if (Option.isSome(config.auth)) headers["X-Tasks-Auth"] = Redacted.value(config.auth.value)
    const httpRequest: CloudTasks.protos.google.cloud.tasks.v2.IHttpRequest = {
      httpMethod: "POST",
      url,
      headers,
      body: Buffer.from(request.body)
    }
    if (Option.isSome(config.serviceAccountEmail)) {
      httpRequest.oidcToken = {
        serviceAccountEmail: config.serviceAccountEmail.value,
        audience: Option.getOrElse(config.oidcAudience, () => url)
      }
    }
    const task: CloudTasks.protos.google.cloud.tasks.v2.ITask = { httpRequest }
    if (Option.isSome(request.taskId)) task.name = `${parent}/tasks/${request.taskId.value}`
    if (Option.isSome(request.dispatchDeadline)) {
      task.dispatchDeadline = { seconds: Math.ceil(Duration.toSeconds(request.dispatchDeadline.value)) }
    }
    if (Option.isSome(request.scheduleTime)) {
      const at = request.scheduleTime.value.getTime()
      task.scheduleTime = { seconds: Math.floor(at / 1000), nanos: (at % 1000) * 1_000_000 }
    }
    return task
  }

  const cancel = (name: string) =>
    Effect.gen(function*() {
      const failed = (reason: CancelError["reason"], message: string, grpcStatus?: number, cause?: unknown) =>
        new CancelError({ message, name, reason, ...(grpcStatus === undefined ? {} : { grpcStatus }), cause })
      const loaded = yield* client.pipe(
        Effect.catchTag("UnknownException", (error) =>
          failed("cancel_failed", `Could not create the CloudTasksClient: ${error.message}`, undefined, error.error))
      )
      yield* Effect.tryPromise({
        try: () => loaded.client.deleteTask({ name }),
        catch: (cause) => {
          const grpcStatus = grpcCode(cause)
          return grpcStatus === NOT_FOUND
            ? failed("not_found", `No task ${name} is waiting in Cloud Tasks: ${errorText(cause)}`, grpcStatus, cause)
            : failed("cancel_failed", `Cloud Tasks could not delete ${name}: ${errorText(cause)}`, grpcStatus, cause)
        }
      })
      yield* Log.info(Events.cloudCancelled, `Cloud Task ${name} deleted`, { name, route: "cloud-tasks" })
    })

  return { dispatch, cancel } satisfies RouteShape
})

