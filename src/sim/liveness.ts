/**
 * Scope liveness in the simulation (docs/scopes.md, "Liveness"), and the
 * fault that once broke it.
 *
 * - `ScopeLivenessCheck`: after the faults, each scope must be held again
 *   within `scopeLivenessBoundMs` of the moment a global leader exists and
 *   some eligible region (home or failover list) has a regional leader.
 * - `planLoneSurvivor`: every region but one is partitioned, and later the
 *   survivor's leader (which by then holds every scope and the global lease)
 *   loses its link to the global bucket for a few seconds. Before the fix, the
 *   re-grant excluded the node that failed to renew: no target was left, and
 *   no scope was ever held again. The partitions stay through the quiet phase.
 *   Half the time a manual move (a pin) comes just before it.
 */
import { resolveTiming } from "../election/timing.js";
import { scopeLivenessBoundMs } from "../scopes/placement.js";
import type { SimWorld } from "./world.js";

export class ScopeLivenessCheck {
  readonly boundMs: number;
  private readonly since = new Map<string, number>();
  readonly violations: string[] = [];
  /** Worst time from "eligible" to "held" seen, per run (ms). */
  worstMs = 0;

  constructor(
    private readonly w: SimWorld,
    private readonly quietStart: number,
  ) {
    const c = w.cfg;
    const scope = resolveTiming({ leaseMs: c.scopeLeaseMs, maxDrift: c.maxDrift });
    // One simulated call takes at most 2 × 450 ms when no link is degraded;
    // a call sent before the faults ended may still wait out its timeout.
    const roundTripMs = 900;
    this.boundMs =
      scopeLivenessBoundMs({ scopeLeaseMs: c.scopeLeaseMs, scopeRenewMs: scope.renewMs, regionLeaseMs: c.regionLeaseMs, roundTripMs, maxDrift: c.maxDrift }) +
      w.net.timeoutMs;
  }

  /** Samples every scope now: records when it became owed a holder, and reports one that is late. */
  sample(): void {
    const now = this.w.sched.now();
    const alive = this.w.alive().filter((p) => !this.w.net.partitioned.has(p.region));
    const global = alive.some((p) => p.node.global().held);
    const led = (r: string) => alive.some((p) => p.region === r && p.node.regional().held);
    for (const r of this.w.cfg.regions) {
      const held = alive.some((p) => p.node.scope(r.name).held);
      const owed = !held && global && [r.name, ...r.failover].some(led);
      if (!owed) {
        const s = this.since.get(r.name);
        if (held && s !== undefined) this.worstMs = Math.max(this.worstMs, now - s);
        this.since.delete(r.name);
        continue;
      }
      const s = this.since.get(r.name) ?? Math.max(now, this.quietStart);
      this.since.set(r.name, s);
      if (now - s > this.boundMs && !this.violations.some((v) => v.startsWith(`liveness: scope ${r.name} `))) {
        this.violations.push(`liveness: scope ${r.name} not held ${now - s} ms after a global leader and a led eligible region existed (bound ${this.boundMs} ms)`);
      }
    }
  }
}

/** Schedules the lone-survivor fault from `at` (and maybe a manual move 2 s before it); returns when its last part ends. */
export function planLoneSurvivor(w: SimWorld, at: number, random: () => number): number {
  const regions = w.cfg.regions.map((r) => r.name);
  const survivor = regions[Math.floor(random() * regions.length)]!;
  // Usually every other region is down (the case that had no target at all); sometimes one stays.
  const down = regions.filter((r) => r !== survivor).slice(0, random() < 0.75 ? undefined : 1);
  const cutAt = 9_000 + random() * 5_000; // long enough for every scope to fail over to the survivor
  const cutFor = 4_000 + random() * 4_000; // long enough for its scope terms to lapse
  const sched = w.sched;
  // Half the time an operator has just moved a scope by hand, mostly into a
  // region about to go down: the pin must not keep it there.
  if (random() < 0.5) {
    const scope = regions[Math.floor(random() * regions.length)]!;
    const into = random() < 0.75 ? down : regions;
    const to = into[Math.floor(random() * into.length)]!;
    sched.setTimeout(() => {
      const g = w.alive().find((x) => x.node.global().held);
      if (!g) return w.log(`no global leader to move ${scope} to ${to}`);
      w.log(`operator: move ${scope} to ${to} (manual)`);
      g.node.moveScope(scope, to).then(
        (r) => w.log(`move of ${scope}: held by ${r.region}/${r.node} token=${r.token}`),
        (e: Error) => w.log(`move of ${scope} failed: ${e.message}`),
      );
    }, at - 2_000 - sched.now());
  }
  sched.setTimeout(() => {
    for (const r of down) w.net.partitioned.add(r);
    w.log(`regions ${down.join(", ")} PARTITIONED until the end (survivor ${survivor})`);
    w.kick();
  }, at + 1 - sched.now()); // after a random partition healing at `at`, not before it
  sched.setTimeout(() => {
    const p = w.alive().find((x) => x.region === survivor && x.node.regional().held);
    if (!p) return w.log(`no leader in ${survivor} to cut from the global bucket`);
    w.net.globalCut.add(p.id);
    w.log(`${p.id} link to the global bucket CUT ${cutFor.toFixed(0)} ms (holds ${p.node.heldScopes().join(", ") || "no scope"})`);
    w.kick();
    sched.setTimeout(() => {
      w.net.globalCut.delete(p.id);
      w.log(`${p.id} link to the global bucket back`);
      w.kick();
    }, cutFor);
  }, at + cutAt - sched.now());
  return at + cutAt + cutFor;
}
