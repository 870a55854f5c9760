// Test-only: a TCP proxy on 127.0.0.1 with a switch that black-holes the path, the way a middlebox that loses its
// state does (a NAT or load balancer failing over, a partition outlasting its flow table). While the hole is open
// nothing is forwarded and nothing is closed: both ends see a connection that is up and silent, and new connections
// are accepted and stay silent too. When the path is back, new connections work, but every connection that went
// through the hole stays dead: the client's side stays open and silent (what it sends is dropped) until the client
// gives up on it, and the server's side is reset (its next packet would meet a middlebox that no longer knows it).
// So a client recovers only by noticing the silence and opening a new connection.
import * as net from "node:net";

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Went through a black hole: never forwards again. */
  dead: boolean;
}

export class BlackHoleProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  readonly #listeners = new Set<() => void>();
  #down = false;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(readonly target: { readonly host: string; readonly port: number }) {
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** Listens on a free loopback port and forwards to `target` (`host:port`). */
  static async start(target: string): Promise<BlackHoleProxy> {
    const at = target.lastIndexOf(":");
    const proxy = new BlackHoleProxy({ host: target.slice(0, at), port: Number(target.slice(at + 1)) });
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  /** Connections that went through a black hole and whose client still holds them open. */
  get deadHeldOpen(): number {
    return [...this.#pairs].filter((p) => p.dead && !p.client.destroyed).length;
  }

  /** Resolves once `condition()` holds, re-checked on every connection accepted. */
  async until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise<void>((resolve) => this.#listeners.add(resolve));
  }

  /** Stops forwarding on every connection, present and future; nothing is closed. */
  blackHole(): void {
    this.#down = true;
    for (const pair of this.#pairs) pair.dead = true;
  }

  /** New connections work again; the dead ones stay dead (their server side is reset now). */
  restore(): void {
    this.#down = false;
    for (const pair of this.#pairs) if (pair.dead) pair.upstream.resetAndDestroy();
  }

  /** Stops listening and ends every connection. */
  async close(): Promise<void> {
    for (const pair of [...this.#pairs]) this.#end(pair);
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    const upstream = net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
    client.setNoDelay(true);
    const pair: Pair = { client, upstream, dead: this.#down };
    this.#pairs.add(pair);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on("error", () => {});
      from.on("data", (chunk: Buffer) => {
        if (!pair.dead) to.write(chunk);
      });
    }
    // A live connection ends as it would without the proxy; a dead one ends only when its client gives up on it.
    client.on("close", () => this.#end(pair));
    upstream.on("close", () => {
      if (!pair.dead) this.#end(pair);
    });
    for (const wake of [...this.#listeners]) {
      this.#listeners.delete(wake);
      wake();
    }
  }

  #end(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  }
}
