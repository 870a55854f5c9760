// The sidecar's gRPC calls served straight on node:http2, without connect's server stack: every unary RPC of
// TaskHubSidecarService (the task completions, and the client's StartInstance, GetInstance, long polls …) and the
// GetWorkItems stream. connect-es's gRPC handler costs most of the sidecar's CPU per call (an async-iterable
// pipeline, an AbortController and a DOMException per call, the compat request/response objects); this path parses
// the 5-byte gRPC frames itself and calls the same handlers (`UnaryHandlers`, shared with connect's routes).
// Anything it does not understand (another content type or protocol, compression) still goes to
// connectNodeAdapter, so the wire behaviour (token check, size limit, status codes and messages) stays the same.
import { timingSafeEqual } from "node:crypto";
import type * as http2 from "node:http2";
import {
  create,
  type DescMethodUnary,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "@dt/core";
import { GetWorkItemsRequestSchema, TaskHubSidecarService } from "@dt/proto";
import {
  EnvelopeReader,
  encodeEnvelope,
  isGrpcProtoContentType,
  MAX_TIMER_MS,
  parseTimeout,
  statusTrailers,
} from "@dt/proto/transport";
import { type Backend, describeError, storeFailure } from "./backend.js";
import { encodeWorkItem } from "./encoding.js";

type Methods = typeof TaskHubSidecarService.method;
type UnaryName = { [K in keyof Methods]: Methods[K] extends DescMethodUnary ? K : never }[keyof Methods];

/**
 * The unary RPCs, by method: the request and, for calls that may wait (long polls, StartInstance), a signal that
 * aborts when the caller goes away, the deadline passes or the sidecar shuts down. Both servers call these.
 */
export type UnaryHandlers = {
  readonly [K in UnaryName]?: (
    req: MessageShape<Methods[K]["input"]>,
    signal: AbortSignal | undefined,
  ) => ResponseOf<K> | Promise<ResponseOf<K>>;
};
/** A response message, or an init object with the fields to set (as connect's handlers return). */
type ResponseOf<K extends UnaryName> = MessageInitShape<Methods[K]["output"]>;

/** Calls that can wait, and so get a signal (the others finish before they return). */
const WAITING: ReadonlySet<string> = new Set<UnaryName>([
  "startInstance",
  "waitForInstanceStart",
  "waitForInstanceCompletion",
  "terminateInstance",
  "suspendInstance",
  "resumeInstance",
  "rerunWorkflowFromEvent",
]);

export interface FastPathOptions {
  readonly backend: Backend;
  readonly handlers: UnaryHandlers;
  readonly maxMessageBytes: number;
  readonly apiToken?: string | undefined;
  /** Aborted when the sidecar closes: open work-item streams and waiting calls end with its reason (UNAVAILABLE). */
  readonly shutdown: AbortSignal;
  readonly logger: Logger;
}

interface Route {
  readonly method: DescMethodUnary;
  readonly handle: (req: unknown, signal: AbortSignal | undefined) => unknown;
  readonly waits: boolean;
  /** The response has no fields: its frame is always 5 zero bytes. */
  readonly empty: boolean;
}

/** Returns a 'stream' listener that serves a call and says true, or says false to leave it to connect. */
export function createFastPath(
  options: FastPathOptions,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  const { backend, maxMessageBytes, shutdown, logger } = options;
  const expected = options.apiToken === undefined ? undefined : Buffer.from(options.apiToken, "utf8");
  const prefix = `/${TaskHubSidecarService.typeName}/`;
  const workItems = prefix + TaskHubSidecarService.method.getWorkItems.name;
  /** Signals of the calls that may be waiting: one shutdown listener aborts them all. */
  const waiting = new Set<AbortController>();
  shutdown.addEventListener(
    "abort",
    () => {
      for (const controller of waiting) controller.abort(shutdown.reason);
      waiting.clear();
    },
    { once: true },
  );
  const routes = new Map<string, Route>();
  for (const method of TaskHubSidecarService.methods) {
    const handle = options.handlers[method.localName as UnaryName] as Route["handle"] | undefined;
    if (method.methodKind !== "unary" || handle === undefined) continue;
    routes.set(prefix + method.name, {
      method: method as DescMethodUnary,
      handle,
      waits: WAITING.has(method.localName),
      empty: method.output.fields.length === 0,
    });
  }

  /** The same check as connect's request gate: before the body is read. */
  function authorized(headers: http2.IncomingHttpHeaders): boolean {
    if (expected === undefined) return true;
    const raw = headers["dapr-api-token"];
    const given = Buffer.from((Array.isArray(raw) ? raw[0] : raw) ?? "", "utf8");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  function fail(stream: http2.ServerHttp2Stream, method: string, error: unknown): void {
    const e = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal);
    logger.debug("call failed", { method, error: describeError(error) });
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      stream.close(); // cannot happen today: every failure path runs before the response starts
      return;
    }
    stream.respond({ ...RESPONSE_HEADERS, ...statusTrailers(e) }, { endStream: true });
  }

  /** Reads the request body: exactly one uncompressed message, at most maxMessageBytes. */
  function readRequest(stream: http2.ServerHttp2Stream, method: string, onMessage: (bytes: Uint8Array) => void): void {
    const reader = new EnvelopeReader(maxMessageBytes, "maxMessageBytes");
    let message: Uint8Array | undefined;
    let rejected = false;
    const reject = (error: unknown) => {
      rejected = true;
      fail(stream, method, error);
    };
    const take = (bytes: Uint8Array) => {
      if (message !== undefined)
        throw new ConnectError(`protocol error: received extra input message for ${method} method`, Code.Unimplemented);
      message = bytes;
    };
    stream.on("data", (chunk: Buffer) => {
      if (rejected) return;
      try {
        reader.push(chunk, take);
      } catch (error) {
        reject(error);
      }
    });
    stream.once("end", () => {
      if (rejected) return;
      if (reader.pending > 0)
        return reject(new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument));
      if (message === undefined) {
        return reject(
          new ConnectError(`protocol error: missing input message for ${method} method`, Code.Unimplemented),
        );
      }
      onMessage(message);
    });
  }

  /** Sends a response message: one DATA frame, then OK trailers. */
  function succeed(stream: http2.ServerHttp2Stream, route: Route, res: unknown): void {
    if (stream.destroyed || stream.closed) return;
    let frame: Buffer = EMPTY_MESSAGE_FRAME;
    if (!route.empty) {
      try {
        const output = route.method.output;
        const message = isMessage(res, output) ? res : create(output, res as MessageInitShape<typeof output>);
        frame = encodeEnvelope(toBinary(output, message));
      } catch (error) {
        fail(stream, route.method.name, error); // INTERNAL, as connect answers a response it cannot serialize
        return;
      }
    }
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
    stream.end(frame);
  }

  /** Answers once what the call changed (or read) is durable: group commit, see sqlite-store.ts. */
  function answer(stream: http2.ServerHttp2Stream, route: Route, failed: boolean, result: unknown): void {
    const durable = backend.whenDurable();
    if (durable === undefined) {
      if (failed) fail(stream, route.method.name, result);
      else succeed(stream, route, result);
    } else if (failed) {
      const send = () => fail(stream, route.method.name, result);
      durable.then(send, send);
    } else {
      durable.then(
        () => succeed(stream, route, result),
        (error: unknown) => fail(stream, route.method.name, storeFailure(error)),
      );
    }
  }

  function unary(stream: http2.ServerHttp2Stream, timeoutMs: number | undefined, route: Route): void {
    const name = route.method.name;
    readRequest(stream, name, (bytes) => {
      let req: unknown;
      try {
        req = fromBinary(route.method.input, bytes);
      } catch (error) {
        fail(stream, name, parseError(error));
        return;
      }
      const call = route.waits ? callSignal(stream, timeoutMs) : undefined;
      let result: unknown;
      try {
        result = route.handle(req, call?.signal);
      } catch (error) {
        call?.done();
        answer(stream, route, true, error);
        return;
      }
      if (!(result instanceof Promise)) {
        call?.done();
        answer(stream, route, false, result);
        return;
      }
      result.then(
        (res: unknown) => {
          call?.done();
          answer(stream, route, false, res);
        },
        (error: unknown) => {
          call?.done();
          answer(stream, route, true, error);
        },
      );
    });
  }

  /**
   * What connect's handler context gave a waiting call: a signal that aborts when the client goes away (or resets
   * the stream), at the grpc-timeout deadline (DEADLINE_EXCEEDED), or when the sidecar shuts down (its reason).
   */
  function callSignal(
    stream: http2.ServerHttp2Stream,
    timeoutMs: number | undefined,
  ): { readonly signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    const onClose = () => controller.abort(CALL_CANCELLED);
    stream.once("close", onClose);
    stream.once("aborted", onClose);
    if (shutdown.aborted) controller.abort(shutdown.reason);
    else waiting.add(controller);
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
            timeoutMs,
          );
    return {
      signal: controller.signal,
      done() {
        clearTimeout(timer);
        stream.off("close", onClose);
        stream.off("aborted", onClose);
        waiting.delete(controller);
      },
    };
  }

  function serveWorkItems(stream: http2.ServerHttp2Stream, timeoutMs: number | undefined): void {
    const method = TaskHubSidecarService.method.getWorkItems.name;
    readRequest(stream, method, (bytes) => {
      let capabilities: ReturnType<typeof fromBinary<typeof GetWorkItemsRequestSchema>>["capabilities"];
      try {
        capabilities = fromBinary(GetWorkItemsRequestSchema, bytes).capabilities;
      } catch (error) {
        fail(stream, method, parseError(error));
        return;
      }
      if (stream.destroyed || stream.closed) return;
      void pump(stream, timeoutMs, capabilities);
    });
  }

  async function pump(
    stream: http2.ServerHttp2Stream,
    timeoutMs: number | undefined,
    capabilities: Parameters<Backend["workItems"]>[0],
  ): Promise<void> {
    const method = TaskHubSidecarService.method.getWorkItems.name;
    // The client going away (or the sidecar closing, or the deadline) aborts the backend's stream, exactly as
    // connect's handler context did: the backend gives this stream's unanswered work back.
    const abort = new AbortController();
    let ended: ConnectError | undefined;
    const stop = (reason?: ConnectError) => {
      ended ??= reason;
      abort.abort();
    };
    const onShutdown = () =>
      stop(ConnectError.from(shutdown.reason ?? new ConnectError("The sidecar is shutting down.", Code.Unavailable)));
    const onClose = () => stop();
    stream.once("close", onClose);
    stream.once("aborted", onClose);
    if (shutdown.aborted) onShutdown();
    else shutdown.addEventListener("abort", onShutdown, { once: true });
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => stop(new ConnectError(`the operation timed out after ${timeoutMs}ms`, Code.DeadlineExceeded)),
            timeoutMs,
          );
    let trailers: http2.OutgoingHttpHeaders = OK_TRAILERS;
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    const items = backend.workItems(capabilities, abort.signal);
    let failure: unknown;
    try {
      for (;;) {
        const next = await items.next();
        if (next.done === true) break;
        if (stream.destroyed || stream.closed) break; // the item goes back with the stream's other work
        if (!stream.write(encodeEnvelope(encodeWorkItem(next.value)))) {
          // Backpressure: the next item is taken only once the worker reads (or the stream goes).
          await new Promise<void>((resolve) => {
            const done = () => {
              stream.off("drain", done);
              stream.off("close", done);
              resolve();
            };
            stream.on("drain", done);
            stream.on("close", done);
          });
        }
      }
    } catch (error) {
      failure = error;
    } finally {
      await items.return(undefined);
      clearTimeout(timer);
      shutdown.removeEventListener("abort", onShutdown);
      stream.off("close", onClose);
      stream.off("aborted", onClose);
    }
    if (stream.destroyed || stream.closed) return;
    const error =
      failure !== undefined
        ? failure instanceof ConnectError
          ? failure
          : new ConnectError("internal error", Code.Internal)
        : ended;
    if (failure !== undefined) logger.debug("call failed", { method, error: describeError(failure) });
    if (error !== undefined) {
      trailers = statusTrailers(error);
    }
    stream.end();
  }

  return (stream, headers) => {
    const path = headers[":path"];
    if (path === undefined) return false;
    const route = routes.get(path);
    if (route === undefined && path !== workItems) return false;
    if (headers[":method"] !== "POST" || !isGrpcProtoContentType(headers["content-type"])) return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false; // connect decompresses
    stream.on("error", () => {}); // a reset by the client; 'close' does the rest
    if (!authorized(headers)) {
      const method = path.slice(prefix.length);
      fail(stream, method, new ConnectError("missing or invalid dapr-api-token metadata", Code.Unauthenticated));
      return true;
    }
    let timeoutMs: number | undefined;
    try {
      timeoutMs = deadline(headers["grpc-timeout"]);
    } catch (error) {
      fail(stream, path.slice(prefix.length), error);
      return true;
    }
    if (route === undefined) serveWorkItems(stream, timeoutMs);
    else unary(stream, timeoutMs, route);
    return true;
  };
}

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc+proto" };
const OK_TRAILERS: http2.OutgoingHttpHeaders = statusTrailers(undefined);
const EMPTY_MESSAGE_FRAME = Buffer.alloc(5);
/** The abort reason of a call whose client went away (nobody reads the answer). */
const CALL_CANCELLED = new ConnectError("the client cancelled the call", Code.Canceled);

function parseError(error: unknown): ConnectError {
  return new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
}

/** The call's deadline in ms, when it has one a timer can hold; a longer one is as good as none. */
function deadline(value: string | string[] | undefined): number | undefined {
  const ms = parseTimeout(typeof value === "string" ? value : undefined);
  return ms === undefined || ms > MAX_TIMER_MS ? undefined : ms;
}
