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
