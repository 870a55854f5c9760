// What the worker needs from a transport beyond connect's `Transport`, and how it gets it from one that has only that
// (a transport passed in through the `transport` option, e.g. connect-node's createGrpcTransport).
import { create, type DescMessage, isMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  decodeWorkItemShallow,
  type GetWorkItemsRequest,
  type ShallowWorkItem,
  TaskHubSidecarService,
} from "@dt/proto";
import type { SidecarTransport } from "@dt/proto/transport";

/** The work items of a GetWorkItems call, and its response headers once the sidecar sent them. */
export interface WorkItems extends AsyncIterable<ShallowWorkItem> {
  /** Resolves with the response headers; a stream that fails before them leaves it pending or rejects it. */
  readonly headers: Promise<Headers>;
  /** Settles when the call is over, items still queued or not (on our transport; undefined on others). */
  readonly done: Promise<void> | undefined;
}

/**
 * The work-item stream. On a transport with `streamBytes` (ours), messages arrive encoded and a workflow's past
 * events stay encoded until the worker knows which of them its live execution has not seen. On any other transport,
 * connect's typed streaming call: each item arrives decoded, past events included, and is used as it is.
 */
export function workItemStream(transport: Transport, signal: AbortSignal, request: GetWorkItemsRequest): WorkItems {
  if (hasStreamBytes(transport)) {
    const bytes = transport.streamBytes(TaskHubSidecarService.method.getWorkItems, signal, request);
    return Object.assign(mapStream(bytes, decodeWorkItemShallow), { headers: bytes.headers, done: bytes.done });
  }
  let onHeader: (headers: Headers) => void = () => {};
  const headers = new Promise<Headers>((resolve) => {
    onHeader = resolve;
  });
  const items = createClient(TaskHubSidecarService, transport).getWorkItems(request, { signal, onHeader });
  return Object.assign(
    mapStream(items, (item) => ({ item, pastEvents: undefined })),
    { headers, done: undefined },
  );
}

function hasStreamBytes(transport: Transport): transport is SidecarTransport {
  return typeof (transport as Partial<SidecarTransport>).streamBytes === "function";
}

async function* mapStream<T, U>(source: AsyncIterable<T>, map: (value: T) => U): AsyncGenerator<U> {
  for await (const value of source) yield map(value);
}

/**
 * `transport` with unary requests over `maxBytes` refused before they are sent, with RESOURCE_EXHAUSTED as our own
 * transport refuses them (`maxSendMessageBytes`): the worker replaces a result too large to send by a failure. The
 * request is encoded once more to be measured; this is the path of transports passed in, not the default one.
 */
export function withSendLimit(transport: Transport, maxBytes: number): Transport {
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const size = encodedSize(method.input, input);
      if (size > maxBytes) {
        return Promise.reject(
          new ConnectError(
            `message size ${size} exceeds the limit of ${maxBytes} bytes (maxResponseBytes)`,
            Code.ResourceExhausted,
          ),
        );
      }
      return transport.unary(method, signal, timeoutMs, header, input, contextValues);
    },
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.stream(method, signal, timeoutMs, header, input, contextValues),
    // One of ours passed in (createNodeHttp2Transport, say) keeps its raw-bytes stream.
    ...(hasStreamBytes(transport) ? { streamBytes: transport.streamBytes.bind(transport) } : {}),
  };
}

/** A transport that can drop its connection (ours), so a silent one is replaced; undefined for others. */
export function droppable(transport: Transport): Pick<SidecarTransport, "dropConnection"> | undefined {
  const candidate = transport as Partial<SidecarTransport>;
  return typeof candidate.dropConnection === "function" ? (candidate as SidecarTransport) : undefined;
}

function encodedSize<D extends DescMessage>(schema: D, input: MessageInitShape<D>): number {
  return toBinary(schema, isMessage(input, schema) ? input : create(schema, input)).length;
}
