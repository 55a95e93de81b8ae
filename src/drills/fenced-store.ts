/**
 * The drill's fenced resource: a demo "control plane" store, the KV bucket
 * `regent-demo-writes` on a nats-server of its own outside the supercluster
 * (a real control plane's resource is not part of its coordinator, and a
 * drill that kills a region must not kill the resource), that accepts a write for a
 * scope only if its fencing token is ≥ the highest token it has accepted for
 * that scope. The check lives on the store side: each scope's key holds the
 * highest accepted token, and a write is a compare-and-set on that key's
 * revision (read, compare, CAS; retry on conflict), so two writers can never
 * both pass the check against the same highest token.
 *
 * Writers are the scope holders' guarded acts: every `regent node` appends
 * `{t, id, lease, token}` to its act log every 5 ms while it holds a lease.
 * The {@link DemoWriter} tails every act log while the drill runs and offers
 * each scope act to the store (coalesced per holder and token each tick), and
 * a new holder "claims" the store with its token as soon as it prints
 * `scope-held`, as a real control plane fences its resource on takeover.
 */
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConflictError } from "../errors.js";
import { NatsLeaseStore } from "../lease/nats-store.js";
import type { HarnessNode } from "../launcher/harness-node.js";

/** What the writer reads of a node: its events (for claims) and its act log. */
export type ActSource = Pick<HarnessNode, "id" | "events" | "actsFile" | "at" | "toShared">;
import type { FencedCounts, ReportInterval } from "./types.js";

export const DEMO_BUCKET = "regent-demo-writes";

export type WriteOutcome = "accepted" | "stale" | "unavailable";

/** Store-side fencing on a KV key per scope. */
export class FencedKv {
  private constructor(private readonly kv: NatsLeaseStore) {}

  static async open(nc: NatsConnection): Promise<FencedKv> {
    const kv = await NatsLeaseStore.open(nc, { bucket: DEMO_BUCKET, timeoutMs: 1_500, signal: AbortSignal.timeout(30_000) });
    return new FencedKv(kv);
  }

  /** One fenced write: accepted iff `token` ≥ the highest token accepted for `scope`. */
  async write(scope: string, token: number, holder: string, acts: number): Promise<WriteOutcome> {
    const key = `scope.${scope}`;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const e = await this.kv.get(key);
        const cur = e && e.operation === "put" ? (JSON.parse(new TextDecoder().decode(e.value)) as { highest: number; writes: number }) : null;
        if (cur && token < cur.highest) return "stale";
        const next = new TextEncoder().encode(JSON.stringify({ highest: token, holder, writes: (cur?.writes ?? 0) + acts }));
        if (e) await this.kv.update(key, next, e.revision);
        else await this.kv.create(key, next);
        return "accepted";
      } catch (err) {
        if (err instanceof ConflictError) continue; // someone wrote between our read and CAS: check again
        return "unavailable";
      }
    }
    return "unavailable";
  }
}

interface Offer {
  id: string;
  scope: string;
  token: number;
  /** Shared-clock act times. */
  times: number[];
  claim: boolean;
}

interface Accepted {
  id: string;
  lease: string;
  token: number;
  times: number[];
}

/** Tails act logs and offers scope acts to the fenced store; counts outcomes. */
export class DemoWriter {
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  private readonly claims: Offer[] = [];
  private readonly seen = new Map<ActSource, number>();
  private readonly accepted: Accepted[] = [];
  private readonly buf = Buffer.allocUnsafe(1 << 18);
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private busy: Promise<void> = Promise.resolve();
  readonly counts: Omit<FencedCounts, "acceptedFromDeposed" | "acceptedFromDeposedUnsafe" | "examples"> = { offered: 0, accepted: 0, rejectedStale: 0, unavailable: 0, claims: 0, perScope: {} };

  constructor(
    private readonly store: FencedKv,
    private readonly nodes: () => ActSource[],
  ) {}

  start(tickMs = 20): void {
    this.running = true;
    const loop = () => {
      if (!this.running) return;
      this.busy = this.tick().finally(() => {
        if (this.running) this.timer = setTimeout(loop, tickMs);
      });
    };
    loop();
  }

  /** Stops after one last pass over the act logs. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.busy;
    await this.tick();
  }

  private scopeCounts(scope: string) {
    return (this.counts.perScope[scope] ??= { accepted: 0, rejectedStale: 0, highest: 0 });
  }

  private collectClaims(): void {
    for (const n of this.nodes()) {
      const from = this.seen.get(n) ?? 0;
      for (let i = from; i < n.events.length; i++) {
        const e = n.events[i]!;
        if (e.type === "scope-held" && typeof e.scope === "string" && typeof e.token === "number") {
          this.claims.push({ id: n.id, scope: e.scope, token: e.token, times: [n.at(e)], claim: true });
        }
      }
      this.seen.set(n, n.events.length);
    }
  }

  private readActs(n: ActSource): Offer[] {
    if (!existsSync(n.actsFile)) return [];
    const fd = openSync(n.actsFile, "r");
    let text = this.partial.get(n.id) ?? "";
    try {
      const buf = this.buf;
      for (;;) {
        const pos = this.offsets.get(n.id) ?? 0;
        const got = readSync(fd, buf, 0, buf.length, pos);
        if (got <= 0) break;
        this.offsets.set(n.id, pos + got);
        text += buf.subarray(0, got).toString("utf8");
      }
    } finally {
      closeSync(fd);
    }
    const lines = text.split("\n");
    this.partial.set(n.id, lines.pop() ?? "");
    const groups = new Map<string, Offer>();
    for (const line of lines) {
      let a: { t: number; id: string; lease: string; token: number };
      try {
        a = JSON.parse(line);
      } catch {
        continue;
      }
      if (!a.lease?.startsWith("scope/")) continue;
      const scope = a.lease.slice("scope/".length);
      const k = `${scope}#${a.token}`;
      const g = groups.get(k) ?? { id: a.id, scope, token: a.token, times: [], claim: false };
      g.times.push(n.toShared(a.t));
      groups.set(k, g);
    }
    return [...groups.values()];
  }

  private async tick(): Promise<void> {
    this.collectClaims();
    const offers = this.claims.splice(0);
    for (const n of this.nodes()) offers.push(...this.readActs(n));
    for (const o of offers) {
      const outcome = await this.store.write(o.scope, o.token, o.id, o.times.length);
      const sc = this.scopeCounts(o.scope);
      if (o.claim) {
        this.counts.claims++;
        if (outcome === "accepted") sc.highest = Math.max(sc.highest, o.token);
        continue;
      }
      this.counts.offered += o.times.length;
      if (outcome === "accepted") {
        this.counts.accepted += o.times.length;
        sc.accepted += o.times.length;
        sc.highest = Math.max(sc.highest, o.token);
        this.accepted.push({ id: o.id, lease: `scope/${o.scope}`, token: o.token, times: o.times });
      } else if (outcome === "stale") {
        this.counts.rejectedStale += o.times.length;
        sc.rejectedStale += o.times.length;
      } else this.counts.unavailable += o.times.length;
    }
  }

  /**
   * Accepted writes from a deposed holder: acted after the actor's own term
   * of that token ended, or at/after the start of a newer term of the same
   * lease. Split into leases where safety is expected and the rest.
   */
  audit(intervals: ReportInterval[], unsafeLeases: string[] = []): { safe: number; unsafe: number; examples: string[] } {
    let safe = 0;
    let unsafe = 0;
    const examples: string[] = [];
    for (const a of this.accepted) {
      const own = intervals.filter((i) => i.lease === a.lease && i.holder === a.id && i.token === a.token);
      const newer = intervals.filter((i) => i.lease === a.lease && i.token > a.token).map((i) => i.start);
      const firstNewer = newer.length ? Math.min(...newer) : Number.POSITIVE_INFINITY;
      for (const t of a.times) {
        const inOwn = own.some((i) => t >= i.start - 1 && t <= i.end + 1);
        if (inOwn && t < firstNewer) continue;
        if (unsafeLeases.includes(a.lease)) unsafe++;
        else safe++;
        if (examples.length < 10) examples.push(`${a.id} wrote ${a.lease} with token ${a.token} at ${t.toFixed(1)}: ${inOwn ? `a newer term began at ${firstNewer.toFixed(1)}` : "outside its own term"}`);
      }
    }
    return { safe, unsafe, examples };
  }
}
