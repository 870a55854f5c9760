import { describe, expect, it } from "vitest";
import { seededRandom } from "./index.js";

const take = (next: () => number, n: number) => Array.from({ length: n }, () => next());

describe("seededRandom", () => {
  it("gives the same sequence for the same seed", () => {
    expect(take(seededRandom("abc123:"), 1000)).toEqual(take(seededRandom("abc123:"), 1000));
    expect(take(seededRandom(""), 50)).toEqual(take(seededRandom(""), 50));
  });

  it("is pinned: replays of recorded workflows depend on these exact numbers (ctx.random(), sandboxed Math.random())", () => {
    expect(take(seededRandom("abc123:"), 3)).toEqual([0.6991643696092069, 0.03900332213379443, 0.8934871142264456]);
    expect(take(seededRandom(""), 3)).toEqual([0.7160958386957645, 0.4519506280776113, 0.29120085295289755]);
  });

  it("stays in [0, 1)", () => {
    for (const seed of ["", "a", "abc123:", "x".repeat(500), "ünïcødé 🎲", "0"]) {
      for (const x of take(seededRandom(seed), 5000)) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThan(1);
      }
    }
  });

  it("differs between seeds, even seeds that differ in one character or only in length", () => {
    const seeds = ["a", "b", "aa", "a ", "abc123:", "abc123:e1", "abc124:", "", "A"];
    const firsts = seeds.map((s) => take(seededRandom(s), 4).join(","));
    expect(new Set(firsts).size).toBe(seeds.length);
  });

  it("does not repeat itself quickly and spreads evenly over [0, 1)", () => {
    const xs = take(seededRandom("spread"), 20_000);
    expect(new Set(xs).size).toBeGreaterThan(19_990);
    const buckets = new Array<number>(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)] = (buckets[Math.floor(x * 10)] ?? 0) + 1;
    for (const count of buckets) {
      expect(count).toBeGreaterThan(1_700);
      expect(count).toBeLessThan(2_300);
    }
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
  });

  it("keeps independent streams apart: two generators of one seed do not share state", () => {
    const a = seededRandom("s");
    const b = seededRandom("s");
    const first = a();
    a();
    a();
    expect(b()).toBe(first);
  });
});
