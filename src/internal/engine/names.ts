/**
 * Resource names of the Cloud Tasks v2 API: locations, queues and tasks.
 *
 * @internal
 */
import { LOCATION_NAME, QUEUE_NAME, TASK_ID } from "../limits.js"
import { Errors } from "./apiError.js"

/** True when `name` is `projects/<p>/locations/<l>/queues/<q>`. */
export const isQueueName = (name: string): boolean => QUEUE_NAME.test(name)

/** True when `name` is `projects/<p>/locations/<l>`. */
export const isLocationName = (name: string): boolean => LOCATION_NAME.test(name)

/** True when `id` is a valid task ID. */
export const isTaskId = (id: string): boolean => TASK_ID.test(id)

/** The last path segment of a resource name (the short queue or task ID). */
export const shortName = (name: string): string => name.slice(name.lastIndexOf("/") + 1)

/** Checks a queue name, failing with the service's message. */
export const validateQueueName = (name: string): void => {
  if (!isQueueName(name)) throw Errors.invalidQueueName()
}

/**
 * Splits the name of a task being created under `parent` and checks it the way the service
 * does: the queue part must be `parent`, the ID must be valid.
 */
export const parseNewTaskName = (parent: string, name: string): string => {
  const index = name.lastIndexOf("/tasks/")
  if (index < 0) throw Errors.invalidTaskName()
  const queue = name.slice(0, index)
  const id = name.slice(index + "/tasks/".length)
  if (!isQueueName(queue)) throw Errors.invalidTaskName()
  if (queue !== parent) throw Errors.taskQueueMismatch(parent, queue)
  if (!isTaskId(id)) throw Errors.invalidTaskId(id)
  return id
}

/** Splits an existing task's name into queue name and ID, or `undefined` if malformed. */
export const parseTaskName = (name: string): { readonly queue: string; readonly id: string } | undefined => {
  const index = name.lastIndexOf("/tasks/")
  if (index < 0) return undefined
  const queue = name.slice(0, index)
  const id = name.slice(index + "/tasks/".length)
  if (!isQueueName(queue) || !isTaskId(id)) return undefined
  return { queue, id }
}
