/**
 * Spans started and ended as `Effect.useSpan` would, without the copy of the fiber's
 * refs that `Effect.makeSpan` makes for every span: the client opens one per task that
 * leaves the process and the task server one per request (benchmarks B1, B2 and B7).
 */
import { Chunk, Clock, Context, Effect, type Exit, type Fiber, FiberRef, HashMap, Option, Tracer } from "effect"

const zero = BigInt(0)

/** What a span is started with. */
export interface SpanOptions {
  readonly kind: Tracer.SpanKind
  readonly attributes: Readonly<Record<string, unknown>>
}

/**
 * Starts a span as `Effect.makeSpan` does, or returns `undefined` when the fiber asks for
 * more than the plain case (tracing disabled, span annotations or links in scope, a
 * parent that stops propagation): the caller then uses effect's own.
 */
export type StartSpan = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  name: string,
  parent: Tracer.AnySpan | undefined,
  options: SpanOptions
) => Tracer.Span | undefined

/** See {@link StartSpan}. */
// Stryker disable next-line BlockStatement: every span started through effect's own is the same span, only slower
export const startSpan: StartSpan = (fiber, name, parent, options) => {
  if (
    !fiber.getFiberRef(FiberRef.currentTracerEnabled) ||
    (parent !== undefined && Context.get(parent.context, Tracer.DisablePropagation)) ||
    !HashMap.isEmpty(fiber.getFiberRef(FiberRef.currentTracerSpanAnnotations)) ||
    Chunk.isNonEmpty(fiber.getFiberRef(FiberRef.currentTracerSpanLinks))
  ) {
    return undefined
  }
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const start = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled) ? clock.unsafeCurrentTimeNanos() : zero
  // A new array of links per span, as effect gives: a tracer may keep it and add to it (OpenTelemetry's does).
  const span = fiber.currentTracer.span(name, Option.fromNullable(parent), Context.empty(), [], start, options.kind, options)
  for (const key in options.attributes) span.attribute(key, options.attributes[key])
  return span
}

/**
 * What ends `span` with an exit, by the clock of `fiber` as `Effect.useSpan` would; a
 * span already ended stays as it was.
 */
export const spanEnder = (fiber: Fiber.RuntimeFiber<unknown, unknown>, span: Tracer.Span) => {
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  return (exit: Exit.Exit<unknown, unknown>): void => {
    if (span.status._tag !== "Ended") span.end(timing ? clock.unsafeCurrentTimeNanos() : zero, exit)
  }
}

/**
 * `Effect.useSpan` for a span started on every call: `f` runs with a span under the
 * fiber's current one, ended with its exit. No stack trace is captured for it.
 */
export const useSpan = <A, E, R>(
  name: string,
  options: SpanOptions,
  f: (span: Tracer.Span) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) => {
    const span = startSpan(fiber, name, fiber.currentContext.unsafeMap.get(Tracer.ParentSpan.key), options)
    if (span === undefined) return Effect.useSpan(name, { ...options, captureStackTrace: false }, f)
    const end = spanEnder(fiber, span)
    return Effect.onExit(f(span), (exit) => Effect.sync(() => end(exit)))
  })
