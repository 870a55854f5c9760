// Which sidecar is this? daprd answers Dapr's own GetMetadata on the same gRPC port as the Durable Task API; other
// sidecars (durabletask-go, the embedded one) answer UNIMPLEMENTED. Workers use it to learn what daprd cannot do.
// The descriptor holds only the two response fields read here (app id, runtime version); the rest are skipped as
// unknown fields, so this stays wire-compatible with any Dapr release.
import { create, createFileRegistry } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { type CallOptions, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";

const PACKAGE = "dapr.proto.runtime.v1";

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "dt/dapr-metadata-probe.proto",
    package: PACKAGE,
    syntax: "proto3",
    messageType: [
      { name: "GetMetadataRequest" },
      {
        name: "GetMetadataResponse",
        field: [
          { name: "id", jsonName: "id", number: 1 },
          { name: "runtime_version", jsonName: "runtimeVersion", number: 8 },
        ].map((f) => ({ ...f, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.OPTIONAL })),
      },
    ],
    service: [
      {
        name: "Dapr",
        method: [
          {
            name: "GetMetadata",
            inputType: `.${PACKAGE}.GetMetadataRequest`,
            outputType: `.${PACKAGE}.GetMetadataResponse`,
          },
        ],
      },
    ],
  }),
  () => undefined,
);
const daprService = registry.getService(`${PACKAGE}.Dapr`);
if (daprService === undefined) throw new Error("the Dapr metadata probe descriptor did not build");

/** What a sidecar said about itself: daprd with its version and app id, or another Durable Task sidecar. */
export type SidecarIdentity =
  | { readonly kind: "daprd"; readonly runtimeVersion: string; readonly appId: string }
  | { readonly kind: "other" };

/**
 * Asks the sidecar behind `transport` whether it is daprd (Dapr's GetMetadata). Resolves `{ kind: "other" }` when the
 * sidecar does not serve Dapr's API; rejects on other errors (unreachable, refused token), which callers may retry.
 */
export async function identifySidecar(transport: Transport, options: CallOptions = {}): Promise<SidecarIdentity> {
  // The descriptor is built at runtime, so the client's method is typed here by hand.
  const client = createClient(daprService as NonNullable<typeof daprService>, transport) as unknown as {
    getMetadata(request: object, options: CallOptions): Promise<{ id: string; runtimeVersion: string }>;
  };
  try {
    const res = await client.getMetadata({}, options);
    return { kind: "daprd", runtimeVersion: res.runtimeVersion, appId: res.id };
  } catch (error) {
    if (ConnectError.from(error).code === Code.Unimplemented) return { kind: "other" };
    throw error;
  }
}

/**
 * Whether a daprd of `version` belongs to the releases observed (1.18.3) or assumed (every release up to 1.18, and a
 * build without a version) to drop StartInstance tags and to fail turns that send events between workflows.
 */
export function daprdUpTo118(version: string): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version);
  if (match === null) return true;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major < 1 || (major === 1 && minor <= 18);
}
