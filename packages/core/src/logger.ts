/** Structured logging as the SDK uses it. Silent unless you pass one. */
export interface Logger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** A view of `logger` that drops messages while `isReplaying()` is true, so each line is written once. */
export function replaySafeLogger(logger: Logger, isReplaying: () => boolean): Logger {
  const gate =
    (level: keyof Logger) =>
    (message: string, attributes?: Record<string, unknown>): void => {
      if (!isReplaying()) logger[level](message, attributes);
    };
  return { debug: gate("debug"), info: gate("info"), warn: gate("warn"), error: gate("error") };
}
