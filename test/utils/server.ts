/**
 * The task server on a real socket (127.0.0.1, port 0), and the small tools the
 * receiving-side tests share: an in-memory tracer and a mailbox for what handlers got.
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, type Exit, Layer, Option, Queue, type Scope, Tracer } from "effect"
import { createServer } from "node:http"
import type { TaskHandlers } from "../../src/index.js"
import { TaskServer, type TaskServerConfigInput, type TaskServerOptions } from "../../src/TaskServer.js"

/** The secret the servers in these tests expect. */
export const secret = "s3cret-for-tests"

export interface RunningTaskServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly server: TaskServer["Type"]
  /** POSTs `body` (JSON-encoded unless a string) to `path` with `headers`. */
  readonly post: (
    path: string,
    body: unknown,
    headers?: Readonly<Record<string, string>>
  ) => Effect.Effect<{ readonly status: number; readonly body: string }>
}

/**
 * Starts the task server for `handlers` in the current scope. Configuration defaults
 * to `{ appEnv: "test", auth: secret }`.
 */
export const startTaskServer = (
  handlers: Layer.Layer<TaskHandlers>,
  options: { readonly config?: TaskServerConfigInput; readonly server?: TaskServerOptions } = {}
): Effect.Effect<RunningTaskServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      TaskServer.serve.pipe(
        Layer.provideMerge(TaskServer.layerWith(options.config ?? { appEnv: "test", auth: secret }, options.server)),
        Layer.provide(handlers),
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
      )
    ).pipe(Effect.orDie)
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    const url = `http://127.0.0.1:${address.port}`
    return {
      url,
      server: Context.get(context, TaskServer),
      post: (path, body, headers = {}) =>
        Effect.promise(async () => {
          const response = await fetch(url + path, {
            method: "POST",
            headers: { "content-type": "application/json", ...headers },
            body: typeof body === "string" ? body : JSON.stringify(body)
          })
          return { status: response.status, body: await response.text() }
        })
    }
  })

/** A finished span as the in-memory tracer recorded it. */
export interface RecordedSpan {
  readonly name: string
  readonly spanId: string
  readonly traceId: string
  readonly parentSpanId: string | undefined
  /** What the span stands for to a trace viewer: "server", "client", "internal"... */
  readonly kind: Tracer.SpanKind
  readonly attributes: ReadonlyMap<string, unknown>
  /** The span's events, with their attributes. */
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes: Record<string, unknown> | undefined }>
  /** The span's links, those it started with and those added. */
  readonly links: ReadonlyArray<Tracer.SpanLink>
  /** How the span ended, once it has. */
  exit?: Exit.Exit<unknown, unknown>
}

/** A tracer that keeps every span it starts, for asserting on parents and attributes. */
export const recordingTracer = (): { readonly tracer: Tracer.Tracer; readonly spans: Array<RecordedSpan> } => {
  const spans: Array<RecordedSpan> = []
  let next = 0
  const id = (length: number) => (++next).toString(16).padStart(length, "0")
  const tracer = Tracer.make({
    context: (f) => f(),
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      const events: Array<{ readonly name: string; readonly attributes: Record<string, unknown> | undefined }> = []
      const allLinks = [...links]
      const traceId = Option.match(parent, { onNone: () => id(32), onSome: (parent) => parent.traceId })
      const recorded: RecordedSpan = {
        name,
        spanId: id(16),
        traceId,
        parentSpanId: Option.getOrUndefined(Option.map(parent, (parent) => parent.spanId)),
        kind,
        attributes,
        events,
        links: allLinks
      }
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: recorded.spanId,
        traceId,
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links: allLinks,
        sampled: true,
        kind,
        attribute: (key, value) => {
          attributes.set(key, value)
        },
        event: (name, _startTime, attributes) => {
          events.push({ name, attributes })
        },
        addLinks: (links) => {
          allLinks.push(...links)
        },
        end: (endTime, exit) => {
          ;(span as { status: Tracer.SpanStatus }).status = { _tag: "Ended", startTime, endTime, exit }
          recorded.exit = exit
        }
      }
      spans.push(recorded)
      return span
    }
  })
  return { tracer, spans }
}

/** The names of `span`'s ancestors, nearest first, following recorded and external parents. */
export const ancestors = (spans: ReadonlyArray<RecordedSpan>, span: RecordedSpan): Array<string> => {
  const names: Array<string> = []
  let parentId = span.parentSpanId
  while (parentId !== undefined) {
    const parent = spans.find((candidate) => candidate.spanId === parentId)
    if (parent === undefined) break
    names.push(parent.name)
    parentId = parent.parentSpanId
  }
  return names
}

/** A mailbox for what handlers received. */
export const mailbox = <A>() => Queue.unbounded<A>()
