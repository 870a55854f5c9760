import { SerializationError } from "./errors.js";

/** Turns payloads (inputs, outputs, event data) into the wire's strings and back. */
export interface DataConverter {
  /** `undefined` means "no payload" (the wire's absent StringValue), which is distinct from `null`. */
  serialize(value: unknown): string | undefined;
  /** Called only for present, non-empty payloads. */
  deserialize(text: string): unknown;
}

/** Python workers mark auto-serialized dataclasses, namedtuples and SimpleNamespaces with this key. */
const PYTHON_AUTO_OBJECT = "__durabletask_autoobject__";

function dropPythonMarker(this: unknown, key: string, value: unknown): unknown {
  return key === PYTHON_AUTO_OBJECT ? undefined : value;
}

/** JSON, compact. Reads Python's auto-object payloads as plain objects (the marker key is dropped). */
export const jsonConverter: DataConverter = {
  serialize(value) {
    return value === undefined ? undefined : JSON.stringify(value);
  },
  deserialize(text) {
    // The reviver costs a call per value, so only pay it when the marker can be present.
    return text.includes(PYTHON_AUTO_OBJECT) ? JSON.parse(text, dropPythonMarker) : JSON.parse(text);
  },
};

/** Decodes an optional wire payload: absent or empty means undefined (as every Durable Task SDK does). */
export function decodePayload(converter: DataConverter, text: string | undefined): unknown {
  return text === undefined || text === "" ? undefined : converter.deserialize(text);
}

/** `decodePayload`, with a payload the converter cannot read reported as a SerializationError naming `what`. */
export function decodePayloadOrThrow(converter: DataConverter, text: string | undefined, what: string): unknown {
  try {
    return decodePayload(converter, text);
  } catch (error) {
    throw new SerializationError(what, error, "deserialize");
  }
}

/** `converter.serialize`, with a value it cannot write reported as a SerializationError naming `what`. */
export function encodePayloadOrThrow(converter: DataConverter, value: unknown, what: string): string | undefined {
  try {
    return converter.serialize(value);
  } catch (error) {
    throw new SerializationError(what, error);
  }
}

/**
 * Metadata travels inside the payload of the call it belongs to (the wire has no field for it), in the envelope the
 * Dapr Python SDK uses: `{"__dapr_meta__": {"v": 1, "metadata": {...}}, "__dapr_payload__": <input>}`. Calls without
 * metadata carry the bare input, so peers that know nothing of the envelope see what they always saw.
 */
const META_KEY = "__dapr_meta__";
const PAYLOAD_KEY = "__dapr_payload__";

export type Metadata = Readonly<Record<string, string>>;

export function wrapMetadata(value: unknown, metadata: Metadata | undefined): unknown {
  if (metadata === undefined || Object.keys(metadata).length === 0) return value;
  return { [META_KEY]: { v: 1, metadata }, [PAYLOAD_KEY]: value };
}

/** Splits a decoded input into the caller's value and its metadata (undefined when it came without). */
export function unwrapMetadata(value: unknown): { value: unknown; metadata: Metadata | undefined } {
  if (typeof value !== "object" || value === null || !(META_KEY in value)) return { value, metadata: undefined };
  const envelope = value as Record<string, unknown>;
  const meta = (envelope[META_KEY] as { metadata?: unknown } | null)?.metadata;
  const metadata: Record<string, string> = {};
  if (typeof meta === "object" && meta !== null) {
    for (const [k, v] of Object.entries(meta)) if (typeof v === "string") metadata[k] = v;
  }
  return { value: envelope[PAYLOAD_KEY], metadata };
}
