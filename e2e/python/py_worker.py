"""A Python SDK worker for the interop suites: chaining, fan-out/fan-in and an external event.

Usage: py_worker.py (the sidecar address comes from DAPR_GRPC_ENDPOINT)

Prints `READY` once its work-item stream is open and runs until SIGTERM or SIGINT, then stops the worker and
exits 0.
"""

import os
import signal
import threading
from datetime import timedelta

from durabletask import task, worker


def py_greet(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello {name}!"


def py_square(ctx: task.ActivityContext, n: int) -> int:
    return n * n


def py_chain(ctx: task.OrchestrationContext, name: str):
    """Three activities in sequence, each greeting the previous result."""
    first = yield ctx.call_activity(py_greet, input=name)
    second = yield ctx.call_activity(py_greet, input=first)
    third = yield ctx.call_activity(py_greet, input=second)
    return [first, second, third]


def py_fan_out(ctx: task.OrchestrationContext, numbers: list):
    """One activity per number, all at once, then their sum."""
    squares = yield task.when_all([ctx.call_activity(py_square, input=n) for n in numbers])
    return {"squares": squares, "sum": sum(squares)}


def py_approval(ctx: task.OrchestrationContext, order: dict):
    """Waits for an "approval" event (or gives up after a timer), then greets whoever approved."""
    ctx.set_custom_status("waiting for approval")
    approval = ctx.wait_for_external_event("approval")
    timeout = ctx.create_timer(timedelta(seconds=order.get("timeout_seconds", 120)))
    winner = yield task.when_any([approval, timeout])
    if winner is timeout:
        return {"order": order["id"], "approved": False}
    decision = approval.get_result()
    greeting = yield ctx.call_activity(py_greet, input=decision["by"])
    ctx.set_custom_status("approved")
    return {"order": order["id"], "approved": True, "by": decision["by"], "greeting": greeting}


def main() -> None:
    address = os.environ["DAPR_GRPC_ENDPOINT"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    w = worker.TaskHubGrpcWorker(host_address=address)
    for orchestrator in (py_chain, py_fan_out, py_approval):
        w.add_orchestrator(orchestrator)
    for activity in (py_greet, py_square):
        w.add_activity(activity)
    w.start()
    print("READY", flush=True)
    try:
        stop.wait()
    finally:
        w.stop()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    main()
