import { afterEach, describe, expect, it } from "vitest";
import { formatSidecarAddress, parseSidecarAddress, type SidecarAddress, unixSocketAddress } from "./address.js";

const realPlatform = process.platform;
function pretendPlatform(platform: NodeJS.Platform): void {
  Object.defineProperty(process, "platform", { value: platform, configurable: true });
}
afterEach(() => pretendPlatform(realPlatform));

describe("parseSidecarAddress: TCP", () => {
  it.each([
    ["localhost:4001", "http://localhost:4001", false],
    ["127.0.0.1:50001", "http://127.0.0.1:50001", false],
    ["sidecar", "http://sidecar:4001", false],
    ["[::1]:4001", "http://[::1]:4001", false],
    ["grpc://example.com:5000", "http://example.com:5000", false],
    ["grpcs://example.com", "https://example.com:443", true],
    ["http://example.com", "http://example.com:80", false],
    ["https://example.com:8443", "https://example.com:8443", true],
    ["https://example.com:8443/", "https://example.com:8443", true],
    ["example.com:443?tls=true", "https://example.com:443", true],
    ["example.com:443?tls=false", "http://example.com:443", false],
    ["example.com:443?TLS=TRUE", "https://example.com:443", true],
    ["grpc://example.com:5000?tls=true", "https://example.com:5000", true],
    ["  localhost:4001  ", "http://localhost:4001", false],
    // Dapr's spec: a bare port is on localhost; dns: with or without a resolver authority.
    [":5000", "http://localhost:5000", false],
    [":5000?tls=true", "https://localhost:5000", true],
    ["dns:myhost:1003", "http://myhost:1003", false],
    ["dns:myhost:1003?tls=true", "https://myhost:1003", true],
    ["dns://8.8.8.8:53/myhost:1003", "http://myhost:1003", false],
    ["dns:[2001:db8::1]:5000", "http://[2001:db8::1]:5000", false],
  ])("%s → %s", (input, baseUrl, secure) => {
    const parsed = parseSidecarAddress(input);
    expect(parsed.kind).toBe("tcp");
    expect(parsed.baseUrl).toBe(baseUrl);
    expect(parsed.secure).toBe(secure);
  });

  it.each([
    ["", /it is empty/],
    ["ftp://host:21", /the scheme "ftp" is not supported/],
    ["vsock:3:5000", /"vsock:" is neither a known scheme nor a host followed by a port/],
    ["inv-scheme:myhost:5000", /neither a known scheme/],
    ["host:notaport", /neither a known scheme/],
    ["http://host:80/path", /paths are not supported \("\/path"\)/],
    ["host:5000/", /paths are not supported/],
    ["http://host:80//", /paths are not supported/],
    ["host:5000/v1/dapr", /paths are not supported \("\/v1\/dapr"\)/],
    ["host:5000?abc=1", /the query parameter "abc" is not supported/],
    ["host:5000?tls=yes", /tls must be true or false, not "yes"/],
    ["host:5000?tls=true&tls=false", /given twice/],
    ["http://host?tls=false", /the tls query parameter is not supported for http:\/\//],
    ["https://host:443?tls=true", /the tls query parameter is not supported for https:\/\//],
    ["grpcs://host?tls=false", /contradict/],
    ["dns://myhost", /"dns:\/\/" is followed by a DNS server/],
    ["grpc://user:pw@host:1", /user names, passwords/],
    ["host:99999", /not a host and port/],
  ])("rejects %j, saying why and naming the accepted forms", (input, why) => {
    let error: unknown;
    try {
      parseSidecarAddress(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(why);
    expect((error as Error).message).toMatch(
      /host:port, \[ipv6\]:port, grpc:\/\/.*unix:\/path\/to\.sock.*unix-abstract:/,
    );
  });
});

describe("parseSidecarAddress: Unix sockets", () => {
  const unix = (path: string, abstract = false): SidecarAddress => ({
    kind: "unix",
    path,
    abstract,
    secure: false,
    baseUrl: "http://localhost",
  });

  it.each([
    ["unix:/run/dapr/grpc.sock", unix("/run/dapr/grpc.sock")],
    ["unix:///run/dapr/grpc.sock", unix("/run/dapr/grpc.sock")],
    ["unix:dapr.sock", unix("dapr.sock")],
    ["unix:./sub/dapr.sock", unix("./sub/dapr.sock")],
    ["UNIX:/tmp/a.sock", unix("/tmp/a.sock")],
    ["unix:/tmp/a.sock?tls=false", unix("/tmp/a.sock")],
    ["unix:/tmp/with%20space%3F.sock", unix("/tmp/with space?.sock")],
    ["  unix:/tmp/a.sock ", unix("/tmp/a.sock")],
  ])("%s", (input, expected) => {
    expect(parseSidecarAddress(input)).toEqual(expected);
  });

  it("reads unix-abstract:name as a name in Linux's abstract namespace", () => {
    pretendPlatform("linux");
    expect(parseSidecarAddress("unix-abstract:dapr-grpc")).toEqual(unix("\0dapr-grpc", true));
    expect(parseSidecarAddress("unix-abstract:a/b%00c")).toEqual(unix("\0a/b\0c", true));
  });

  it.each([
    ["unix:", /unix: is followed by no path/],
    ["unix://", /unix:\/\/ is followed by an absolute path/],
    ["unix://my.sock", /unix:\/\/ is followed by an absolute path \(unix:\/\/\/run\/dapr\.sock\)/],
    ["unix://host/tmp/a.sock", /unix:\/\/ is followed by an absolute path/],
    ["unix:/tmp/a.sock?tls=true", /TLS over a Unix socket is not supported/],
    ["unix:/tmp/a.sock?mode=1", /the query parameter "mode" is not supported/],
    ["unix:/tmp/a%zz.sock", /malformed percent-encoding/],
    ["unix:/tmp/a%00.sock", /cannot contain NUL/],
    [`unix:/tmp/${"x".repeat(200)}.sock`, /a Unix socket path is at most 10[37] bytes here \(this one has 210\)/],
    ["unix-abstract:", /unix-abstract: is followed by no name/],
  ])("rejects %j", (input, why) => {
    pretendPlatform("linux");
    expect(() => parseSidecarAddress(input)).toThrow(why);
    expect(() => parseSidecarAddress(input)).toThrow(/Use host:port/);
  });

  it("rejects unix-abstract: off Linux with a clear error", () => {
    pretendPlatform("darwin");
    expect(() => parseSidecarAddress("unix-abstract:dapr")).toThrow(
      /abstract sockets \(unix-abstract:\) exist only on Linux, not on darwin/,
    );
    // Paths are bounded by the platform's sun_path: 104 bytes with the NUL on macOS.
    expect(() => parseSidecarAddress(`unix:/${"x".repeat(103)}`)).toThrow(/at most 103 bytes/);
    expect(parseSidecarAddress(`unix:/${"x".repeat(102)}`).kind).toBe("unix");
  });
});

describe("formatSidecarAddress", () => {
  it.each([
    "unix:/run/dapr.sock",
    "unix:dapr.sock",
    "unix:/tmp/odd%3Fname%25.sock",
    "unix:////double-slash.sock",
    "unix-abstract:dapr%00x",
    "127.0.0.1:4001",
    "[::1]:50001",
    "grpcs://example.com:443",
  ])("%s round-trips through the parser", (text) => {
    pretendPlatform("linux");
    const parsed = parseSidecarAddress(text);
    expect(formatSidecarAddress(parsed)).toBe(text);
    expect(parseSidecarAddress(formatSidecarAddress(parsed))).toEqual(parsed);
  });

  it("keeps a path with ? or % whole", () => {
    const parsed = parseSidecarAddress(formatSidecarAddress(unixSocketAddress("/t/a?b%c")));
    expect(parsed).toMatchObject({ kind: "unix", path: "/t/a?b%c" });
  });
});

describe("unixSocketAddress", () => {
  it("describes a socket a server listens on, checked against the platform", () => {
    pretendPlatform("linux");
    expect(unixSocketAddress("/tmp/dt.sock")).toMatchObject({ kind: "unix", path: "/tmp/dt.sock", abstract: false });
    expect(unixSocketAddress("\0dt")).toMatchObject({ kind: "unix", path: "\0dt", abstract: true });
    expect(() => unixSocketAddress("")).toThrow(/Cannot use the Unix socket "": the socket path is empty/);
    expect(() => unixSocketAddress(`/${"x".repeat(107)}`)).toThrow(/at most 107 bytes here \(this one has 108\)/);
    pretendPlatform("win32");
    expect(() => unixSocketAddress("/tmp/dt.sock")).toThrow(/not available to Node\.js on Windows/);
    expect(() => parseSidecarAddress("unix:C:/dt.sock")).toThrow(/not available to Node\.js on Windows/);
    pretendPlatform("freebsd");
    expect(() => unixSocketAddress("\0dt")).toThrow(/exist only on Linux, not on freebsd/);
  });
});
