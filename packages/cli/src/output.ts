// Human and machine output for `dt` commands: aligned tables and field lists, colour through node:util styleText
// (which honours NO_COLOR, FORCE_COLOR and non-TTY streams when given the stream), JSON documents, and a spinner on
// stderr that only runs when stderr is a terminal.
import { stripVTControlCharacters, styleText } from "node:util";
import type { OutputStream } from "./command.js";

export type Format = Parameters<typeof styleText>[0];

/** Styles text for one stream; plain text when there is no stream or it cannot show colour. */
export type Styler = (format: Format, text: string) => string;

export function styler(stream: OutputStream | undefined): Styler {
  if (stream === undefined) return (_format, text) => text;
  return (format, text) => (text === "" ? text : styleText(format, text, { stream }));
}

export const plain: Styler = styler(undefined);

/** A table cell: text, optionally styled (padding is computed on the plain text, so colour never breaks alignment). */
export type Cell = string | { readonly text: string; readonly format?: Format };

/** Rows under upper-case headers, columns two spaces apart, no trailing spaces. */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[], style: Styler): string[] {
  const text = (cell: Cell | undefined) => (cell === undefined ? "" : typeof cell === "string" ? cell : cell.text);
  const widths = headers.map((header, column) =>
    Math.max(width(header), ...rows.map((row) => width(text(row[column])))),
  );
  const line = (cells: readonly Cell[], header: boolean) =>
    headers
      .map((_, column) => {
        const cell = cells[column];
        const raw = text(cell);
        const last = column === headers.length - 1;
        const padding = last ? "" : " ".repeat((widths[column] ?? 0) - width(raw));
        const format = header ? "bold" : typeof cell === "object" ? cell.format : undefined;
        return (format === undefined ? raw : style(format, raw)) + padding;
      })
      .join("  ")
      .trimEnd();
  return [line(headers, true), ...rows.map((row) => line(row, false))];
}

/** `Label:  value` lines with the values aligned; entries whose value is undefined are left out. */
export function formatFields(fields: readonly (readonly [string, Cell | undefined])[], style: Styler): string[] {
  const present = fields.filter((field): field is readonly [string, Cell] => field[1] !== undefined);
  const labelWidth = Math.max(0, ...present.map(([label]) => width(label) + 1));
  return present.map(([label, cell]) => {
    const value =
      typeof cell === "string" ? cell : cell.format === undefined ? cell.text : style(cell.format, cell.text);
    // Multi-line values (stack traces) continue under the value column.
    return `${`${label}:`.padEnd(labelWidth)}  ${value.split("\n").join(`\n${" ".repeat(labelWidth + 2)}`)}`;
  });
}

function width(text: string): number {
  return stripVTControlCharacters(text).length;
}

/** `2025-01-15T10:00:00Z` (whole seconds, UTC), or `-` when absent. */
export function formatTime(date: Date | undefined): string {
  if (date === undefined || Number.isNaN(date.getTime())) return "-";
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** One line, at most `max` characters (an ellipsis marks a cut). */
export function truncate(text: string, max: number): string {
  const line = text.replace(/\s*\n\s*/g, " ");
  return line.length <= max ? line : `${line.slice(0, Math.max(0, max - 1))}…`;
}

/** One JSON document, indented; bigints as decimal strings. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** The colour of a workflow status: green done, red failed, yellow stopped, cyan running, dim waiting. */
export function statusFormat(status: string): Format | undefined {
  switch (status) {
    case "COMPLETED":
      return "green";
    case "FAILED":
    case "STALLED":
      return "red";
    case "TERMINATED":
    case "CANCELED":
    case "SUSPENDED":
      return "yellow";
    case "RUNNING":
    case "CONTINUED_AS_NEW":
      return "cyan";
    case "PENDING":
      return "dim";
    default:
      return undefined;
  }
}

export function statusCell(status: string): Cell {
  const format = statusFormat(status);
  return format === undefined ? status : { text: status, format };
}

export interface Spinner {
  stop(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * A spinner with a status text, redrawn every 80 ms on `stream` — only when it is a terminal, so logs and pipes
 * never see it. `stop()` clears the line.
 */
export function startSpinner(
  stream: OutputStream | undefined,
  text: () => string,
  intervalMs = 80,
  isTerminal: boolean = stream?.isTTY === true,
): Spinner {
  if (stream === undefined || !isTerminal) return { stop() {} };
  let frame = 0;
  const draw = () => {
    stream.write(`\r\x1b[2K${styler(stream)("cyan", FRAMES[frame % FRAMES.length] ?? "")} ${text()}`);
    frame++;
  };
  draw();
  const timer = setInterval(draw, intervalMs);
  timer.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stream.write("\r\x1b[2K");
    },
  };
}
