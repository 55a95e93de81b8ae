/**
 * Manual moves stick (docs/scopes.md, "Manual moves"): a scope moved by hand
 * stays in its target region until `failback`, or until that region fails;
 * the pin lives in the scope record, so a new global leader honours it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { readState, stateSourceOf } from "../../src/hierarchy/bus.js";
import { renderState } from "../../src/cli/observe-cmds.js";
import { scopeViewOf } from "../../src/scopes/record.js";
import type { MoveResult } from "../../src/scopes/types.js";
import { REGIONS, ScopesWorld } from "../../src/sim/scopes-world.js";
import { scopeKey } from "../../src/wire/names.js";

let w: ScopesWorld;
afterEach(async () => w && (await w.stopAll()));

const FAILBACK_MS = 4000;

async function world(seed: number): Promise<ScopesWorld> {
  w = new ScopesWorld(seed, FAILBACK_MS);
  for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
  await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
  return w;
}

/** Asks the current global leader to move `scope`, and waits for the answer. */
async function move(scope: string, to: string, reason: "manual" | "failback" = "manual"): Promise<MoveResult> {
  const p = w.globalLeader()!.node.moveScope(scope, to, reason);
  let out: MoveResult | Error | undefined;
  p.then((r) => (out = r), (e: Error) => (out = e));
  await w.until(() => out !== undefined, 15_000, `move of ${scope} to ${to}`, 1);
  if (out instanceof Error) throw out;
  return out!;
}

async function record(scope: string) {
  const v = scopeViewOf(await w.globalStore.get(scopeKey(scope)));
  if (v.state === "vacant" || v.state === "unknown") throw new Error(`scope ${scope} is ${v.state}`);
  return v;
}

const status = () => readState(stateSourceOf({ cluster: "sim", regions: w.regionStores, quorum: [w.globalStore] }), "test");

/** A scope and a target region, neither of them the global leader's region. */
function pick(): { scope: string; to: string } {
  const g = w.globalLeader()!.node.region;
  const [scope, to] = REGIONS.map((r) => r.name).filter((r) => r !== g) as [string, string];
  return { scope, to };
}

describe("manual moves stick (SimulatedClock, memory stores)", () => {
  it("stays in the target region past failbackAfterMs with a healthy home, also under a new global leader; failback clears the pin", async () => {
    await world(9);
    const { scope, to } = pick();
    const moved = await move(scope, to);
    expect(moved.region).toBe(to);
    expect((await record(scope)).record.pinned).toBe("manual");
    const st = await status();
    expect(st.scopes[scope]!.pinned).toBe("manual");
    expect(renderState(st)).toMatch(new RegExp(`${scope} .*pinned: manual`));

    // Home is healthy all along: without the pin, failback would take it after 4 s.
    await w.advance(FAILBACK_MS + 3 * 3000);
    expect(w.holderOf(scope)!.node.region).toBe(to);
    expect(w.holderOf(scope)!.node.scope(scope).token).toBe(moved.token);

    // A new global leader (a new authority, with no memory of the move) honours the pin.
    const g = w.globalLeader()!;
    await g.node.resign("global");
    await w.until(() => !!w.globalLeader() && w.globalLeader() !== g, 10_000, "new global leader");
    await w.advance(FAILBACK_MS + 3 * 3000);
    expect(w.holderOf(scope)!.node.region).toBe(to);
    expect(w.holderOf(scope)!.node.scope(scope).token).toBe(moved.token);

    // `regent failback`: back home, unpinned, and the authority may move it again on its own.
    const back = await move(scope, scope, "failback");
    expect(back.region).toBe(scope);
    expect(w.holderOf(scope)!.node.region).toBe(scope);
    const rec = await record(scope);
    expect(rec.record.pinned).toBeUndefined();
    expect(rec.record.reason).toBe("failback");
    expect((await status()).scopes[scope]!.pinned ?? null).toBeNull();
  });

  it("a leader change inside the pinned region keeps the pin", async () => {
    await world(3);
    const { scope, to } = pick();
    const moved = await move(scope, to);
    const old = w.holderOf(scope)!;
    await old.node.resign("region");
    await w.until(() => !!w.holderOf(scope) && w.holderOf(scope) !== old, 10_000, "scope follows the new leader");
    expect(w.holderOf(scope)!.node.region).toBe(to);
    expect(w.holderOf(scope)!.node.scope(scope).token!).toBeGreaterThan(moved.token);
    expect((await record(scope)).record.pinned).toBe("manual");
    await w.advance(FAILBACK_MS + 3 * 3000);
    expect(w.holderOf(scope)!.node.region).toBe(to);
  });

  it("the target region's failure moves it by normal failover, and the pin is gone", async () => {
    await world(5);
    await w.advance(FAILBACK_MS + 1000); // home healthy for longer than the failback window
    const { scope, to } = pick();
    await move(scope, to);
    w.partition(to, true);
    await w.until(() => !!w.holderOf(scope) && w.holderOf(scope)!.node.region !== to, 20_000, "failover out of the pinned region");
    expect(w.holderOf(scope)!.node.region).toBe(scope); // home is live and long healthy
    const rec = await record(scope);
    expect(rec.record.pinned).toBeUndefined();
    expect(rec.record.from?.region).toBe(to);
    // The target comes back: nothing pulls the scope there again.
    w.partition(to, false);
    const token = w.holderOf(scope)!.node.scope(scope).token;
    await w.advance(FAILBACK_MS + 3 * 3000);
    expect(w.holderOf(scope)!.node.region).toBe(scope);
    expect(w.holderOf(scope)!.node.scope(scope).token).toBe(token);
  });

  it("a manual move to the region that already holds the scope (after a failover) pins it there", async () => {
    await world(11);
    const { scope, to } = pick();
    w.partition(scope, true);
    await w.until(() => !!w.holderOf(scope) && w.holderOf(scope)!.node.region !== scope, 20_000, "failover");
    await w.advance(2000); // the authority has seen the failover's confirm and renewals
    const there = w.holderOf(scope)!.node.region;
    expect([to, w.globalLeader()!.node.region]).toContain(there);
    const moved = await move(scope, there);
    expect(moved.region).toBe(there);
    expect((await record(scope)).record.pinned).toBe("manual");
    w.partition(scope, false);
    await w.advance(FAILBACK_MS + 3 * 3000 + 2000);
    expect(w.holderOf(scope)!.node.region).toBe(there);
  });
});
