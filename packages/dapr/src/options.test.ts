import { describe, expect, it } from "vitest";
import {
  grpcChannelOptions,
  resolveConnection,
  resolveTransport,
  toLogger,
  type WorkflowClientOptions,
} from "./options.js";

type Transport = NonNullable<WorkflowClientOptions["transport"]>;

describe("resolveConnection: where the sidecar is", () => {
  it("defaults to Dapr's 127.0.0.1:50001 when nothing is set", () => {
    expect(resolveConnection({}, {}).address).toBe("127.0.0.1:50001");
  });

  it("takes daprHost/daprPort as @dapr/dapr does: either one set, the other defaulted", () => {
    expect(resolveConnection({ daprHost: "sidecar", daprPort: "4001" }, {}).address).toBe("sidecar:4001");
    expect(resolveConnection({ daprPort: 4002 }, {}).address).toBe("127.0.0.1:4002");
    expect(resolveConnection({ daprHost: "sidecar" }, { DAPR_GRPC_PORT: "7000" }).address).toBe("sidecar:7000");
    expect(resolveConnection({ daprHost: "https://sidecar.example/" }, {}).address).toBe(
      "https://sidecar.example:50001",
    );
  });

  it("lets explicit host/port win over DAPR_GRPC_ENDPOINT, and `address` win over both", () => {
    const env = { DAPR_GRPC_ENDPOINT: "env-host:1111" };
    expect(resolveConnection({ daprHost: "opt-host", daprPort: "2222" }, env).address).toBe("opt-host:2222");
    expect(resolveConnection({ address: "addr:3333", daprHost: "opt-host" }, env).address).toBe("addr:3333");
  });

  it("takes Unix socket addresses from `address` and DAPR_GRPC_ENDPOINT as they are", () => {
    expect(resolveConnection({ address: "unix:/run/dapr.sock" }, {}).address).toBe("unix:/run/dapr.sock");
    expect(resolveConnection({}, { DAPR_GRPC_ENDPOINT: "unix:///run/dapr.sock" }).address).toBe(
      "unix:///run/dapr.sock",
    );
  });

  it("reads the environment when no option names the sidecar", () => {
    expect(resolveConnection({}, { DAPR_GRPC_ENDPOINT: "https://cloud:443" }).address).toBe("https://cloud:443");
    expect(resolveConnection({}, { DAPR_GRPC_HOST: "h", DAPR_GRPC_PORT: "9" }).address).toBe("h:9");
    expect(resolveConnection({}, { DAPR_GRPC_PORT: "9" }).address).toBe("localhost:9");
    expect(resolveConnection({}, { DURABLETASK_GRPC_ENDPOINT: "dt:4001" }).address).toBe("dt:4001");
    expect(resolveConnection({ useEnvironment: false }, { DAPR_GRPC_ENDPOINT: "x:1" }).address).toBe("127.0.0.1:50001");
  });

  it("sends the API token from daprApiToken, else DAPR_API_TOKEN", () => {
    expect(resolveConnection({ daprApiToken: "opt" }, { DAPR_API_TOKEN: "env" }).apiToken).toBe("opt");
    expect(resolveConnection({}, { DAPR_API_TOKEN: "env" }).apiToken).toBe("env");
    expect(resolveConnection({}, {}).apiToken).toBeUndefined();
    expect(resolveConnection({ apiToken: "ours", daprApiToken: "dapr" }, {}).apiToken).toBe("ours");
  });

  it("passes our transport options through and keeps Dapr-only options out", () => {
    const resolved = resolveConnection(
      { daprPort: 1, defaultTimeoutMs: 500, metadata: { a: "b" }, logger: { level: 1 }, grpcOptions: {} },
      { DAPR_GRPC_RETRY_ENABLED: "true" },
    );
    expect(resolved).toMatchObject({ address: "127.0.0.1:1", defaultTimeoutMs: 500, metadata: { a: "b" } });
    expect(resolved.retry?.maxAttempts).toBe(4);
    expect(Object.keys(resolved)).not.toContain("daprPort");
    expect(Object.keys(resolved)).not.toContain("logger");
    expect(Object.keys(resolved)).not.toContain("grpcOptions");
  });
});

describe("grpcChannelOptions: grpc-js channel options with an equivalent", () => {
  it("maps message sizes and keepalive, and ignores the rest", () => {
    expect(
      grpcChannelOptions({
        "grpc.max_receive_message_length": 1024,
        "grpc.max_send_message_length": 2048,
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 2_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.primary_user_agent": "x",
      }),
    ).toEqual({
      maxReceiveMessageBytes: 1024,
      maxSendMessageBytes: 2048,
      keepalive: { intervalMs: 10_000, timeoutMs: 2_000, permitWithoutCalls: true },
    });
    expect(grpcChannelOptions({ "grpc.max_receive_message_length": -1 })).toEqual({});
    expect(grpcChannelOptions(undefined)).toEqual({});
  });

  it("lets explicit options win over grpcOptions", () => {
    const resolved = resolveConnection(
      { maxReceiveMessageBytes: 5, grpcOptions: { "grpc.max_receive_message_length": 9 } },
      {},
    );
    expect(resolved.maxReceiveMessageBytes).toBe(5);
  });
});

describe("toLogger", () => {
  it("uses a Logger as it is", () => {
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    expect(toLogger(logger)).toBe(logger);
    expect(toLogger(undefined)).toBeUndefined();
  });

  it("turns @dapr/dapr's { level } into a console logger at that level", () => {
    const lines: string[] = [];
    const original = { error: console.error, warn: console.warn, info: console.info, debug: console.debug };
    console.error = (line: string) => lines.push(`error ${line}`);
    console.warn = (line: string) => lines.push(`warn ${line}`);
    console.info = (line: string) => lines.push(`info ${line}`);
    console.debug = (line: string) => lines.push(`debug ${line}`);
    try {
      const logger = toLogger({ level: 1, service: "svc" });
      logger?.error("e", { id: 1 });
      logger?.warn("w");
      logger?.info("i");
      logger?.debug("d");
    } finally {
      Object.assign(console, original);
    }
    expect(lines).toEqual(['error [svc] e {"id":1}', "warn [svc] w"]);
  });
});

describe("resolveTransport", () => {
  const transport = { unary: () => Promise.reject(new Error("unused")) } as unknown as Transport;

  it("hands a transport passed in over with `address` (for messages) only, reading no environment", () => {
    const env = { DAPR_GRPC_ENDPOINT: "env:1", DAPR_API_TOKEN: "t", DAPR_GRPC_RETRY_ENABLED: "1" };
    const bad = { ...env, DAPR_GRPC_RETRY_MAX_ATTEMPTS: "x" };
    expect(() => resolveTransport({}, bad)).toThrow(/DAPR_GRPC_RETRY_MAX_ATTEMPTS/);
    expect(resolveTransport({ transport, daprHost: "h", daprApiToken: "tok" }, bad)).toEqual({ transport });
    expect(resolveTransport({ transport, address: "unix:/run/dapr.sock" }, env)).toEqual({
      transport,
      address: "unix:/run/dapr.sock",
    });
  });

  it("is resolveConnection without a transport, and keeps `transport` out of the connection options", () => {
    expect(resolveTransport({ daprPort: 7 }, {})).toEqual(resolveConnection({ daprPort: 7 }, {}));
    expect(resolveConnection({ transport }, {})).not.toHaveProperty("transport");
  });
});
