"""Schedules one workflow through the Python SDK's client and prints its final state.

Usage: py_client.py NAME INSTANCE_ID [--input JSON] [--auto-object] [--timeout SECONDS]

The sidecar address comes from DAPR_GRPC_ENDPOINT (the SDK's own resolution). The last line printed is
`RESULT {json}` with instance_id, status, output (parsed), custom_status and failure (error_type, message).
With --auto-object the input (a JSON object) is sent as a SimpleNamespace, which the SDK marks with
`"__durabletask_autoobject__": true`.
"""

import argparse
import json
import os
import sys
from types import SimpleNamespace

from durabletask import client


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("instance_id")
    parser.add_argument("--input", default=None, help="the input, as JSON")
    parser.add_argument("--auto-object", action="store_true")
    parser.add_argument("--timeout", type=int, default=120)
    args = parser.parse_args()

    workflow_input = None if args.input is None else json.loads(args.input)
    if args.auto_object:
        workflow_input = SimpleNamespace(**workflow_input)

    address = os.environ["DAPR_GRPC_ENDPOINT"]
    with client.TaskHubGrpcClient(host_address=address) as c:
        instance_id = c.schedule_new_orchestration(args.name, input=workflow_input, instance_id=args.instance_id)
        print(f"SCHEDULED {instance_id}", flush=True)
        state = c.wait_for_orchestration_completion(instance_id, timeout=args.timeout)

    if state is None:
        print(f"RESULT {json.dumps({'instance_id': instance_id, 'status': None})}", flush=True)
        return 1
    failure = None
    if state.failure_details is not None:
        failure = {"error_type": state.failure_details.error_type, "message": state.failure_details.message}
    result = {
        "instance_id": state.instance_id,
        "status": str(state.runtime_status),
        "output": None if state.serialized_output is None else json.loads(state.serialized_output),
        "custom_status": state.serialized_custom_status,
        "failure": failure,
    }
    print(f"RESULT {json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
