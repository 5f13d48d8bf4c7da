/**
 * effect-http-tasks: typed, observable background HTTP task dispatch for Effect.
 *
 * @since 0.1.0
 */
export * from "./CloudTasksRoute.js"
export * from "./DryRunRoute.js"
export * from "./Errors.js"
export * from "./Events.js"
export * from "./LocalRoute.js"
export * from "./LoopbackRoute.js"
export * from "./Route.js"
export * from "./TaskContext.js"
export * from "./TaskDefinition.js"
export * from "./TaskHandlers.js"
export * from "./TaskId.js"
export * from "./TaskQueue.js"
export * from "./TasksClient.js"
export * from "./TasksConfig.js"
export * from "./WorkerRoute.js"
