// HTTP CONNECT proxies, chosen from the variables grpc-js reads: `grpc_proxy`, `https_proxy`, `http_proxy` (first set
// wins) and `no_grpc_proxy` / `no_proxy`. Loopback hosts are never proxied: a sidecar beside the app is reached directly
// even where a corporate proxy is set for everything else.
import * as http from "node:http";
import * as net from "node:net";

/** The proxy to reach `host:port` through, from `env`; undefined when none applies. */
export function proxyFromEnv(
  host: string,
  port: number,
  env: Readonly<Record<string, string | undefined>> = process.env,
): URL | undefined {
  const get = (name: string) => {
    const value = (env[name] ?? env[name.toUpperCase()])?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const raw = get("grpc_proxy") ?? get("https_proxy") ?? get("http_proxy");
  if (raw === undefined || isLoopback(host)) return undefined;
  const exclusions = (get("no_grpc_proxy") ?? get("no_proxy") ?? "").split(",");
  if (exclusions.some((entry) => excludes(entry.trim().toLowerCase(), host.toLowerCase(), port))) return undefined;
  return parseProxy(raw);
}

/** Reads a proxy address: `http://[user:password@]host[:port]`, or a bare `host:port`. */
export function parseProxy(raw: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new TypeError(`Invalid proxy address "${raw}": use http://host:port.`);
  }
  if (url.protocol !== "http:") {
    throw new TypeError(`Unsupported proxy scheme "${url.protocol}" in "${raw}": only http:// proxies (CONNECT) are.`);
  }
  return url;
}

function isLoopback(host: string): boolean {
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  return bare === "localhost" || bare.endsWith(".localhost") || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** One `no_proxy` entry: `*`, a host or domain (a leading dot optional), optionally with `:port`. */
function excludes(entry: string, host: string, port: number): boolean {
  if (entry === "") return false;
  if (entry === "*") return true;
  let name = entry;
  const colon = entry.lastIndexOf(":");
  if (colon > 0 && !entry.includes("]") && entry.indexOf(":") === colon) {
    if (Number(entry.slice(colon + 1)) !== port) return false;
    name = entry.slice(0, colon);
  }
  name = name.replace(/^\*?\./, "");
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  return bare === name || (net.isIP(bare) === 0 && bare.endsWith(`.${name}`));
}

/** Opens a tunnel to `host:port` through `proxy` (HTTP CONNECT); resolves with the socket once the proxy said 200. */
export function connectThroughProxy(proxy: URL, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const authority = `${net.isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.username !== "") {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers["proxy-authorization"] = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: proxy.hostname.startsWith("[") ? proxy.hostname.slice(1, -1) : proxy.hostname,
      port: proxy.port === "" ? 80 : Number(proxy.port),
      method: "CONNECT",
      path: authority,
      headers,
      agent: false,
    });
    const timer = setTimeout(
      () => request.destroy(new Error(`no answer to CONNECT ${authority} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.once("connect", (response, socket, head) => {
      clearTimeout(timer);
      if (response.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`the proxy ${proxy.host} refused CONNECT ${authority}: HTTP ${response.statusCode ?? "?"}`));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    request.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`could not open a tunnel through the proxy ${proxy.host}: ${error.message}`, { cause: error }));
    });
    request.end();
  });
}
