import { expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger } from "effect"
import { drain } from "effect-http-tasks"
import { signup, TasksLive } from "./taskOnce.js"

it.effect("the README's task runs in-process in dev with the decoded payload", () => {
  const lines: Array<string> = []
  return Effect.gen(function*() {
    yield* signup("u-7")
    yield* drain
    expect(lines.some((line) => /^queued local-direct-dispatch\/default\/\d{20} via local$/.test(line))).toBe(true)
    expect(lines).toContain("transcribing gs://bucket/a.wav for u-7, attempt 1")
  }).pipe(
    Effect.provide(TasksLive),
    Effect.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ APP_ENV: "dev" }))),
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => lines.push(String([message].flat()[0])))))
  )
})
