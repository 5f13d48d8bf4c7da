/**
 * The largest task Cloud Tasks accepts, in bytes of the stored task proto (the task as the
 * service keeps it: name, times, the default dispatch deadline, URL, method, headers including
 * the added `User-Agent`, body and token). The documented limit is 1 MB; the observed
 * create/reject boundary of the real service is 1,048,569 bytes (1 MiB - 7). Shared by the
 * cloud route (to fail before the API call) and the emulator (to refuse such a task).
 *
 * @internal
 */
export const MAX_TASK_BYTES = 1_048_569
