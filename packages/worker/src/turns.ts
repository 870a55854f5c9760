// What a worker's turn needs around the engine: decoding past events lazily, a failed completion for a turn that
// could not run, tracing spans, and what the connected sidecar cannot do.
import { fromBinary } from "@bufbuild/protobuf";
import { type ExecutionCache, type SidecarLimits, toFailureDetails, type WorkflowResult } from "@dt/core";
import { type HistoryEvent, HistoryEventSchema, OrchestrationStatus, type WorkflowRequest } from "@dt/proto";
import { daprdUpTo118 } from "@dt/proto/transport";
import { ProxyTracerProvider, type Span, SpanStatusCode, trace } from "@opentelemetry/api";

/** A FAILED completion for a turn the engine could not run (a malformed request), so the instance is not stuck. */
export function failedTurn(error: unknown): WorkflowResult {
  const failure = toFailureDetails(error);
  return {
    actions: [
      {
        $typeName: "WorkflowAction",
        id: -1,
        workflowActionType: {
          case: "completeWorkflow",
          value: {
            $typeName: "CompleteWorkflowAction",
            workflowStatus: OrchestrationStatus.FAILED,
            carryoverEvents: [],
            failureDetails: failure,
          },
        },
      },
    ],
    customStatus: undefined,
    version: undefined,
  };
}

/**
 * Whether spans go anywhere: with only the OpenTelemetry API (no SDK registered) every span is a no-op, so the worker
 * skips building them and their contexts per work item.
 */
export function tracing(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer("@dt/worker") !== undefined;
}

export function endSpan(span: Span | undefined, result: WorkflowResult): void {
  if (span === undefined) return;
  const completion = result.actions.find((a) => a.workflowActionType.case === "completeWorkflow")?.workflowActionType;
  if (completion?.case === "completeWorkflow" && completion.value.workflowStatus === OrchestrationStatus.FAILED) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: completion.value.failureDetails?.errorMessage ?? "failed" });
  }
  span.end();
}

/**
 * A work item's past events, decoded. When a live execution has processed the start of this history (the usual case
 * from the second turn on), its events are reused and only the rest is decoded.
 */
export function decodePast(
  request: WorkflowRequest,
  encoded: readonly Uint8Array[],
  executions: ExecutionCache,
): HistoryEvent[] {
  const decode = (index: number) => fromBinary(HistoryEventSchema, encoded[index] as Uint8Array);
  // A delta over the sidecar's cached history is not a whole history: it cannot start with what an execution saw.
  const known =
    request.cachedHistory === undefined
      ? executions.processedEvents(request.instanceId, encoded.length, decode)
      : undefined;
  const past = known ?? [];
  for (let i = past.length; i < encoded.length; i++) past.push(decode(i));
  return past;
}

/**
 * What a daprd of `version` cannot do. Observed on 1.18.3: a SendEvent action fails the turn inside daprd ("don't know
 * how to process outbound message") and daprd retries it every second, forever. No release is known to deliver it
 * yet, so every daprd up to 1.18 (and a build without a version) is held to that.
 */
export function daprdLimits(version: string): SidecarLimits | undefined {
  if (!daprdUpTo118(version)) return undefined;
  const name = `daprd ${version || "(unknown version)"}`;
  return {
    sendEvent: `${name} does not deliver events between workflows`,
    // Observed on 1.18.3: "trying to send message larger than max (3146349 vs. 2097152)" from its scheduler for a
    // 3 MiB input, retried every second. The rest of the scheduled job (ids, names) takes well under 16 KiB.
    activityInput: {
      maxBytes: 2 * 1024 * 1024 - 16 * 1024,
      reason: `${name} schedules activities through its scheduler, whose messages are limited to 2 MiB`,
    },
  };
}
