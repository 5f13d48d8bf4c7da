/**
 * The structured log events of `enqueueHttpTask`.
 *
 * Every step logs one entry through effect's logger, annotated with
 * `event=<name>` and `path=<path>` (and `route`, `reason`, `name` or `status`
 * where they apply). Filter or assert on these names, never on messages.
 *
 * @since 0.1.0
 */

/**
 * Every event name, keyed by a short identifier.
 *
 * @since 0.1.0
 * @category events
 */
export const Events = {
  // dispatch
  start: "tasks.enqueue_http_task.start",
  invalidRequest: "tasks.enqueue_http_task.invalid_request",
  handlerMissing: "tasks.enqueue_http_task.handler_missing",
  dryRun: "tasks.dry_run",
  usingLocalDispatch: "tasks.enqueue_http_task.using_local_dispatch",
  usingCloudTasks: "tasks.enqueue_http_task.using_cloud_tasks",
  // cloud tasks
  cloudEnabled: "tasks.cloud.enabled",
  cloudDisabled: "tasks.cloud.disabled",
  usingWorkerUrl: "tasks.enqueue_http_task.using_worker_url",
  usingTasksUrl: "tasks.enqueue_http_task.using_tasks_url",
  tasksAuthMissing: "tasks.enqueue_http_task.tasks_auth_missing",
  tasksAuthSet: "tasks.enqueue_http_task.tasks_auth_set",
  creatingTask: "tasks.enqueue_http_task.creating_task",
  cloudEnqueued: "tasks.cloud.enqueued",
  cloudRetrying: "tasks.cloud.retrying",
  cloudCancelled: "tasks.cloud.cancelled",
  // local dispatch
  usingLoopback: "tasks.dev.using_loopback",
  loopbackSuccess: "tasks.dev.loopback_success",
  loopbackError: "tasks.dev.loopback_error",
  checkingWorkerConfig: "tasks.dev.checking_worker_config",
  workerConfigValid: "tasks.dev.worker_config_valid",
  workerConfigInvalid: "tasks.dev.worker_config_invalid",
  usingWorkerServer: "tasks.dev.using_worker_server",
  workerSuccess: "tasks.dev.worker_success",
  workerTimeout: "tasks.dev.worker_timeout",
  workerError: "tasks.dev.worker_error",
  workerException: "tasks.dev.worker_exception",
  scheduleIgnored: "tasks.dev.schedule_ignored",
  dispatch: "tasks.dev.dispatch",
  taskAttempt: "tasks.dev.task_attempt",
  taskSucceeded: "tasks.dev.task_succeeded",
  taskFailed: "tasks.dev.task_failed",
  taskRetrying: "tasks.dev.task_retrying",
  taskDropped: "tasks.dev.task_dropped",
  taskExhausted: "tasks.dev.task_exhausted",
  taskCancelled: "tasks.dev.task_cancelled",
  taskAbandoned: "tasks.dev.task_abandoned",
  drainGaveUp: "tasks.dev.drain_gave_up",
  taskRefused: "tasks.dev.task_refused",
  taskInterrupted: "tasks.dev.task_interrupted",
  closeTimedOut: "tasks.dev.close_timed_out",
  dashboardListening: "tasks.dev.dashboard_listening",
  dashboardFailed: "tasks.dev.dashboard_failed",
  // errors
  cloudTasksUnavailable: "tasks.enqueue_http_task.cloud_tasks_unavailable",
  cloudTasksClientFailed: "tasks.enqueue_http_task.cloud_tasks_client_failed",
  configMissing: "tasks.enqueue_http_task.config_missing",
  baseUrlMissing: "tasks.enqueue_http_task.base_url_missing",
  taskBuildFailed: "tasks.enqueue_http_task.task_build_failed",
  createTaskFailed: "tasks.enqueue_http_task.create_task_failed",
  // queues as code
  queueCreated: "tasks.queues.created",
  queueUpdated: "tasks.queues.updated",
  // receiving side (effect-http-tasks/server)
  serverReceived: "tasks.server.received",
  serverUnauthorized: "tasks.server.unauthorized",
  serverNotFound: "tasks.server.not_found",
  serverListening: "tasks.server.listening",
  serverInvalidPayload: "tasks.server.invalid_payload",
  serverAccepted: "tasks.server.accepted",
  serverSucceeded: "tasks.server.succeeded",
  serverFailed: "tasks.server.failed",
  serverDropped: "tasks.server.dropped",
  serverRetryLater: "tasks.server.retry_later",
  serverRefused: "tasks.server.refused",
  serverInterrupted: "tasks.server.interrupted",
  serverCloseTimedOut: "tasks.server.close_timed_out",
  serverAuthMissing: "tasks.server.auth_missing",
  serverConfigInvalid: "tasks.server.config_invalid"
} as const

/**
 * The name of one event, e.g. `"tasks.dry_run"`.
 *
 * @since 0.1.0
 * @category events
 */
export type EventName = (typeof Events)[keyof typeof Events]
