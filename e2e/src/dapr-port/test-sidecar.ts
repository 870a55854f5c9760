// @dt/dapr for the ports, with one difference: clients and runtimes connect to the test's sidecar (the address is the
// process's first argument). The examples hard-code localhost:50001, where `dapr run --dapr-grpc-port 50001` puts
// daprd; the test's sidecar listens on a free loopback port instead. Every other option the example passes is kept.
import * as dapr from "@dt/dapr";

export * from "@dt/dapr";

function testSidecar(): string {
  const address = process.argv[2];
  if (address === undefined || address === "")
    throw new Error("usage: node --import ./register.ts <port>.ts <address>");
  return address;
}

export class WorkflowRuntime extends dapr.WorkflowRuntime {
  constructor(options: dapr.WorkflowRuntimeOptions = {}) {
    super({ ...options, address: testSidecar() });
  }
}

export class DaprWorkflowClient extends dapr.DaprWorkflowClient {
  constructor(options: dapr.DaprWorkflowClientOptions = {}) {
    super({ ...options, address: testSidecar() });
  }
}
