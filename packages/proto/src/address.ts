// Sidecar addresses as Dapr's SDKs read DAPR_GRPC_ENDPOINT (dapr/proposals 20240508-S-sidecar-endpoint-tls) and gRPC
// names its targets (grpc/doc/naming.md): host:port, URLs with a scheme, `dns:`, and Unix sockets (`unix:`,
// `unix-abstract:`). Parsing is pure; connecting is the transport's business.

/** A TCP address: `host:port`, with or without TLS. */
export interface TcpSidecarAddress {
  readonly kind: "tcp";
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** `http(s)://host:port`, the form connect expects. */
  readonly baseUrl: string;
}

/** A Unix domain socket: a file system path, or (Linux only) a name in the abstract namespace. */
export interface UnixSidecarAddress {
  readonly kind: "unix";
  /** What `net.connect({ path })` takes: the socket's path, or `"\0" + name` for an abstract socket. */
  readonly path: string;
  /** A name in Linux's abstract namespace (`unix-abstract:name`) rather than a file. */
  readonly abstract: boolean;
  /** Always false: TLS over a local socket is not supported. */
  readonly secure: false;
  /** `http://localhost`: HTTP/2's `:authority` for a socket, as gRPC sends it. */
  readonly baseUrl: string;
}

/** Where a sidecar listens. */
export type SidecarAddress = TcpSidecarAddress | UnixSidecarAddress;

/** The accepted forms, for error messages. */
export const ADDRESS_FORMS =
  "host:port, [ipv6]:port, grpc://host:port, grpcs://host:port, http://host:port, https://host:port, dns:host:port " +
  "(a ?tls=true query selects TLS), unix:/path/to.sock, unix:///path/to.sock, unix:relative.sock or " +
  "unix-abstract:name (Linux)";

const DEFAULT_PORTS: Readonly<Record<string, number>> = { grpc: 4001, grpcs: 443, http: 80, https: 443 };

/** The `sun_path` room for a path (its terminating NUL excluded): 108 bytes on Linux, 104 on macOS and the BSDs. */
function maxSocketPathBytes(): number {
  return process.platform === "linux" || process.platform === "android" ? 107 : 103;
}

/** Parses a sidecar address. Throws a TypeError that says what is wrong and names the accepted forms. */
export function parseSidecarAddress(address: string): SidecarAddress {
  const trimmed = address.trim();
  const invalid = (why: string) => new TypeError(`Invalid sidecar address "${address}": ${why}. Use ${ADDRESS_FORMS}.`);
  if (trimmed === "") throw invalid("it is empty");
  const queryAt = trimmed.indexOf("?");
  const target = queryAt < 0 ? trimmed : trimmed.slice(0, queryAt);
  const tls = tlsParameter(queryAt < 0 ? "" : trimmed.slice(queryAt + 1), invalid);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(target)?.[1]?.toLowerCase();
  const rest = scheme === undefined ? target : target.slice(scheme.length + 1);
  if (scheme === "unix" || scheme === "unix-abstract") return unixAddress(scheme, rest, tls, invalid);
  if (scheme === "dns") {
    // `dns://resolver/host:port` names a DNS server: the system's resolver is used, so the authority is only checked.
    if (!rest.startsWith("//")) return tcpAddress("grpc", rest, tls, invalid);
    const slash = rest.indexOf("/", 2);
    if (slash < 0) throw invalid(`"dns://" is followed by a DNS server, then "/host:port"`);
    return tcpAddress("grpc", rest.slice(slash + 1), tls, invalid);
  }
  if (scheme !== undefined && rest.startsWith("//")) {
    if (!(scheme in DEFAULT_PORTS)) throw invalid(`the scheme "${scheme}" is not supported`);
    // A URL may end in "/" (`https://host:443/`), as URLs often do; a bare host:port may not (Dapr's spec).
    const authority = rest.slice(2);
    return tcpAddress(scheme, authority.endsWith("/") ? authority.slice(0, -1) : authority, tls, invalid);
  }
  // `localhost:4001` also matches the scheme pattern; only a port may follow a bare host's colon.
  if (scheme !== undefined && !/^\d*(?:\/|$)/.test(rest)) {
    throw invalid(`"${scheme}:" is neither a known scheme nor a host followed by a port`);
  }
  return tcpAddress("grpc", target, tls, invalid);
}

type Invalid = (why: string) => TypeError;

/** The `tls` query parameter (true, false, or absent); any other parameter is an error, as Dapr's spec asks. */
function tlsParameter(query: string, invalid: Invalid): boolean | undefined {
  if (query === "") return undefined;
  const params = new URLSearchParams(query);
  let tls: boolean | undefined;
  for (const [name, value] of params) {
    if (name.toLowerCase() !== "tls") throw invalid(`the query parameter "${name}" is not supported (only tls is)`);
    if (tls !== undefined) throw invalid("the tls query parameter is given twice");
    const lower = value.toLowerCase();
    if (lower !== "true" && lower !== "false") throw invalid(`tls must be true or false, not "${value}"`);
    tls = lower === "true";
  }
  return tls;
}

function tcpAddress(scheme: string, hostPort: string, tls: boolean | undefined, invalid: Invalid): TcpSidecarAddress {
  if ((scheme === "http" || scheme === "https") && tls !== undefined) {
    throw invalid(`the tls query parameter is not supported for ${scheme}:// addresses (the scheme says it)`);
  }
  if (scheme === "grpcs" && tls === false) throw invalid("grpcs:// and tls=false contradict each other");
  // A bare `:port` is a port on localhost (Dapr's spec).
  const authority = hostPort.startsWith(":") ? `localhost${hostPort}` : hostPort;
  let url: URL;
  try {
    url = new URL(`${scheme}://${authority}`);
  } catch {
    throw invalid("it is not a host and port");
  }
  if (url.hostname === "") throw invalid("it names no host");
  if (url.pathname !== "" && url.pathname !== "/") throw invalid(`paths are not supported ("${url.pathname}")`);
  if (hostPort.includes("/")) throw invalid(`paths are not supported ("/")`);
  if (url.username !== "" || url.password !== "" || url.hash !== "") {
    throw invalid("user names, passwords and fragments are not supported");
  }
  const secure = scheme === "grpcs" || scheme === "https" || tls === true;
  const port = url.port === "" ? (DEFAULT_PORTS[scheme] as number) : Number(url.port);
  const host = url.hostname;
  return { kind: "tcp", host, port, secure, baseUrl: `${secure ? "https" : "http"}://${host}:${port}` };
}

function unixAddress(
  scheme: "unix" | "unix-abstract",
  rest: string,
  tls: boolean | undefined,
  invalid: Invalid,
): UnixSidecarAddress {
  if (tls === true) {
    throw invalid("TLS over a Unix socket is not supported (the socket's file permissions guard it); drop tls=true");
  }
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw invalid(`"${text}" has a malformed percent-encoding`);
    }
  };
  let path: string;
  if (scheme === "unix-abstract") {
    const name = decode(rest);
    if (name === "") throw invalid("unix-abstract: is followed by no name");
    path = `\0${name}`;
  } else {
    let raw = rest;
    if (rest.startsWith("//")) {
      // gRPC's `unix://absolute_path`: the third slash is the path's own, and nothing may stand between the two.
      if (!rest.startsWith("///")) {
        throw invalid(
          "unix:// is followed by an absolute path (unix:///run/dapr.sock); a relative one is unix:dapr.sock",
        );
      }
      raw = rest.slice(2);
    }
    path = decode(raw);
    if (path === "") throw invalid("unix: is followed by no path");
    if (path.includes("\0")) throw invalid("a socket path cannot contain NUL (abstract names are unix-abstract:name)");
  }
  const problem = socketPathProblem(path);
  if (problem !== undefined) throw invalid(problem);
  return unixSocketAddress(path);
}

/** Why `path` (`"\0name"`: abstract) cannot be a Unix socket here, or undefined when it can. */
function socketPathProblem(path: string): string | undefined {
  // Node's `path` on Windows names a pipe (\\.\pipe\…), not an AF_UNIX socket.
  if (process.platform === "win32") return "Unix sockets are not available to Node.js on Windows";
  const max = maxSocketPathBytes();
  if (path.startsWith("\0")) {
    if (process.platform !== "linux" && process.platform !== "android") {
      return `abstract sockets (unix-abstract:) exist only on Linux, not on ${process.platform}`;
    }
    return Buffer.byteLength(path) - 1 > max ? `an abstract socket's name is at most ${max} bytes` : undefined;
  }
  if (path === "") return "the socket path is empty";
  const bytes = Buffer.byteLength(path);
  return bytes > max ? `a Unix socket path is at most ${max} bytes here (this one has ${bytes})` : undefined;
}

/**
 * The address of the Unix socket at `path` (`"\0name"`: a name in Linux's abstract namespace), for a server that
 * listens on it. Throws a TypeError when the platform cannot have it (too long a path; abstract names off Linux).
 */
export function unixSocketAddress(path: string): UnixSidecarAddress {
  const problem = socketPathProblem(path);
  if (problem !== undefined) throw new TypeError(`Cannot use the Unix socket ${JSON.stringify(path)}: ${problem}.`);
  return { kind: "unix", path, abstract: path.startsWith("\0"), secure: false, baseUrl: "http://localhost" };
}

/**
 * The address in the form `parseSidecarAddress` takes: `host:port` (`grpcs://host:port` with TLS), `unix:<path>` or
 * `unix-abstract:<name>`, with the characters the parser would read otherwise (`%`, `?`, NUL) percent-encoded.
 */
export function formatSidecarAddress(address: SidecarAddress): string {
  if (address.kind === "tcp") return `${address.secure ? "grpcs://" : ""}${address.host}:${address.port}`;
  const encode = (text: string) =>
    text.replace(/[%?\0]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);
  if (address.abstract) return `unix-abstract:${encode(address.path.slice(1))}`;
  // A path that starts with "//" would read as unix://authority: the absolute form keeps it whole.
  return `unix:${address.path.startsWith("//") ? "//" : ""}${encode(address.path)}`;
}
