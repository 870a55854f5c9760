// The three hot RPCs (CompleteActivityTask, CompleteOrchestratorTask/CompleteWorkflowTask and the GetWorkItems
// stream) served straight on node:http2, without connect's server stack. connect-es's gRPC handler costs most of the
// sidecar's CPU per call (an async-iterable pipeline, an AbortController and a DOMException per call, the compat
// request/response objects); these paths parse the 5-byte gRPC frames themselves and call the same Backend methods.
// Everything else — and any hot call this path does not understand (another content type, compression) — still goes
// to connectNodeAdapter, so the wire behaviour (token check, size limit, status codes and messages) stays the same.
import { timingSafeEqual } from "node:crypto";
import type * as http2 from "node:http2";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "@dt/core";
import {
  type ActivityResponse,
  ActivityResponseSchema,
  GetWorkItemsRequestSchema,
  TaskHubSidecarService,
  type WorkflowResponse,
  WorkflowResponseSchema,
  WorkItemSchema,
} from "@dt/proto";
import { type Backend, describeError } from "./backend.js";

export interface FastPathOptions {
  readonly backend: Backend;
  readonly maxMessageBytes: number;
  readonly apiToken?: string | undefined;
  /** Aborted when the sidecar closes: open work-item streams end with its reason (UNAVAILABLE). */
  readonly shutdown: AbortSignal;
  readonly logger: Logger;
}

/** Returns a 'stream' listener that serves a hot call and says true, or says false to leave it to connect. */
export function createFastPath(
  options: FastPathOptions,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  const { backend, maxMessageBytes, shutdown, logger } = options;
  const expected = options.apiToken === undefined ? undefined : Buffer.from(options.apiToken, "utf8");
  const prefix = `/${TaskHubSidecarService.typeName}/`;
  const m = TaskHubSidecarService.method;
  const activity = prefix + m.completeActivityTask.name;
  const orchestrator = prefix + m.completeOrchestratorTask.name;
  const workflow = prefix + m.completeWorkflowTask.name;
  const workItems = prefix + m.getWorkItems.name;

  const completeActivity = (bytes: Uint8Array) => {
    let req: ActivityResponse;
    try {
      req = fromBinary(ActivityResponseSchema, bytes);
    } catch (error) {
      throw parseError(error);
    }
    backend.completeActivityTask(req);
  };
  const completeWorkflow = (bytes: Uint8Array) => {
    let req: WorkflowResponse;
    try {
      req = fromBinary(WorkflowResponseSchema, bytes);
    } catch (error) {
      throw parseError(error);
    }
    backend.completeWorkflowTask(req);
  };

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
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc+proto",
        "grpc-status": String(e.code),
        "grpc-message": encodeURIComponent(e.rawMessage),
      },
      { endStream: true },
    );
  }

  /** Reads the request body: exactly one uncompressed message, at most maxMessageBytes. */
  function readRequest(stream: http2.ServerHttp2Stream, method: string, onMessage: (bytes: Uint8Array) => void): void {
    let buffered: Buffer | undefined;
    let rejected = false;
    stream.on("data", (chunk: Buffer) => {
      if (rejected) return;
      buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered.length >= 5) {
        const length = buffered.readUInt32BE(1);
        if (length > maxMessageBytes) {
          rejected = true;
          buffered = undefined;
          fail(
            stream,
            method,
            new ConnectError(
              `message size ${length} is larger than configured readMaxBytes ${maxMessageBytes}`,
              Code.ResourceExhausted,
            ),
          );
        }
      }
    });
    stream.once("end", () => {
      if (rejected) return;
      let message: Uint8Array;
      try {
        message = singleMessage(buffered, method);
      } catch (error) {
        fail(stream, method, error);
        return;
      }
      onMessage(message);
    });
  }

  function unary(stream: http2.ServerHttp2Stream, method: string, handle: (bytes: Uint8Array) => void): void {
    readRequest(stream, method, (bytes) => {
      try {
        handle(bytes);
      } catch (error) {
        fail(stream, method, error);
        return;
      }
      if (stream.destroyed || stream.closed) return;
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
      stream.end(EMPTY_MESSAGE_FRAME); // CompleteTaskResponse has no fields: its frame is 5 zero bytes
    });
  }

  function serveWorkItems(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const method = m.getWorkItems.name;
    readRequest(stream, method, (bytes) => {
      let capabilities: ReturnType<typeof fromBinary<typeof GetWorkItemsRequestSchema>>["capabilities"];
      try {
        capabilities = fromBinary(GetWorkItemsRequestSchema, bytes).capabilities;
      } catch (error) {
        fail(stream, method, parseError(error));
        return;
      }
      if (stream.destroyed || stream.closed) return;
      void pump(stream, headers, capabilities);
    });
  }

  async function pump(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    capabilities: Parameters<Backend["workItems"]>[0],
  ): Promise<void> {
    const method = m.getWorkItems.name;
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
    const timeoutMs = parseTimeout(headers["grpc-timeout"]);
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
        const body = toBinary(WorkItemSchema, next.value);
        const frame = Buffer.allocUnsafe(5 + body.length);
        frame[0] = 0;
        frame.writeUInt32BE(body.length, 1);
        frame.set(body, 5);
        if (!stream.write(frame)) {
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
      trailers = { "grpc-status": String(error.code), "grpc-message": encodeURIComponent(error.rawMessage) };
    }
    stream.end();
  }

  return (stream, headers) => {
    const path = headers[":path"];
    let handle: ((bytes: Uint8Array) => void) | undefined;
    if (path === activity) handle = completeActivity;
    else if (path === orchestrator || path === workflow) handle = completeWorkflow;
    else if (path !== workItems) return false;
    if (headers[":method"] !== "POST" || !isGrpcProto(headers["content-type"])) return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false; // connect decompresses
    stream.on("error", () => {}); // a reset by the client; 'close' does the rest
    const method = path.slice(prefix.length);
    if (!authorized(headers)) {
      fail(stream, method, new ConnectError("missing or invalid dapr-api-token metadata", Code.Unauthenticated));
      return true;
    }
    if (handle === undefined) serveWorkItems(stream, headers);
    else unary(stream, method, handle);
    return true;
  };
}

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc+proto" };
const OK_TRAILERS: http2.OutgoingHttpHeaders = { "grpc-status": "0" };
const EMPTY_MESSAGE_FRAME = Buffer.alloc(5);

function isGrpcProto(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(";", 1)[0]?.trim().toLowerCase();
  return type === "application/grpc" || type === "application/grpc+proto";
}

/** The one message of a unary (or server-streaming) request, as connect's handler insists. */
function singleMessage(body: Buffer | undefined, method: string): Uint8Array {
  let message: Uint8Array | undefined;
  let offset = 0;
  const length = body?.length ?? 0;
  while (body !== undefined && offset < length) {
    if (length - offset < 5) {
      throw new ConnectError(`protocol error: incomplete envelope`, Code.InvalidArgument);
    }
    const flags = body[offset] as number;
    const size = body.readUInt32BE(offset + 1);
    if (length - offset - 5 < size) {
      throw new ConnectError(
        `protocol error: promised ${size} bytes in enveloped message, got ${length - offset - 5} bytes`,
        Code.InvalidArgument,
      );
    }
    if ((flags & 1) !== 0) {
      throw new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal);
    }
    if (message !== undefined) {
      throw new ConnectError(`protocol error: received extra input message for ${method} method`, Code.Unimplemented);
    }
    message = body.subarray(offset + 5, offset + 5 + size);
    offset += 5 + size;
  }
  if (message === undefined) {
    throw new ConnectError(`protocol error: missing input message for ${method} method`, Code.Unimplemented);
  }
  return message;
}

/** gRPC's `grpc-timeout`: up to 8 digits and a unit. */
function parseTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  const n = Number(match[1]);
  const unit = match[2];
  const ms =
    unit === "H"
      ? n * 3_600_000
      : unit === "M"
        ? n * 60_000
        : unit === "S"
          ? n * 1000
          : unit === "m"
            ? n
            : unit === "u"
              ? n / 1000
              : n / 1_000_000;
  return Math.min(ms, 0x7fffffff);
}

function parseError(error: unknown): ConnectError {
  return new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
}
