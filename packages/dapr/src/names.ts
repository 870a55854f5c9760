import { InvalidArgumentError } from "@dt/core";

/** The name a workflow or activity function registers under: its `name`, as @dapr/dapr's `getFunctionName`. */
export function getFunctionName(fn: unknown, what: "workflow" | "activity"): string {
  if (typeof fn !== "function") {
    throw new InvalidArgumentError(`A ${what} must be a function; got ${fn === null ? "null" : typeof fn}.`);
  }
  const name = fn.name;
  if (typeof name !== "string" || name === "" || name === "anonymous") {
    throw new InvalidArgumentError(
      `Cannot infer a name from an anonymous ${what} function. Assign it to a const, or register it with ` +
        `register${what === "workflow" ? "Workflow" : "Activity"}WithName(name, fn).`,
    );
  }
  return name;
}
