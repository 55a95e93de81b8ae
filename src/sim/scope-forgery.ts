/**
 * Simulation fault: forged scope records on the quorum stores (issue 14),
 * the attack docs/quorum.md ("Forged records") closes for the quorum scope
 * leases. The lessee of a scope is cut off from a majority of the quorum
 * stores (so it cannot see what follows and stays valid until its
 * deadline), and on each of those stores the forger writes, with no
 * expected revision:
 * - `release`: a `released` copy of the record there, the secret guessed;
 * - `recommit`: a copy of the term's grant (as if the term were new), then a
 *   held record of the term with the forger's own commitment, then its
 *   release with the matching secret — each left long enough for the
 *   authority to read it.
 * Often the forged release names another region's leader instead of the
 * lessee (the forger moving the scope): the authority would then re-grant
 * it there, to a node that can confirm, while the lessee is still valid.
 * Terms are kept (Q4 holds). The oracle checks that nobody else held the
 * scope meanwhile.
 */
import { scopeViewOf } from "../scopes/record.js";
import type { FaultEnv } from "./quorum-scopes-faults.js";
import { commitOf } from "../wire/lease-record.js";
import { encodeScope, type ScopeRecord } from "../wire/scope-record.js";
import { scopeKey } from "../wire/names.js";

const FORGER_SECRET = "scope-forger-secret";

/** Plans 1–3 forgeries in the fault phase from `random` (its own stream); returns when the last ends. */
export function scopeForgeries(e: FaultEnv, random: () => number, faultMs: number): number {
  const { sched, net, log, kick } = e;
  const later = (at: number, fn: () => void) => sched.setTimeout(fn, Math.max(0, at - sched.now()));
  let last = sched.now();
  for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
    const at = 8000 + random() * Math.max(1000, faultMs - 6000);
    const scope = e.names[Math.floor(random() * e.names.length)]!;
    const many = Math.floor(e.qStores.length / 2) + 1;
    const stores = [...e.qStores].sort(() => random() - 0.5).slice(0, many);
    const kind = random() < 0.5 ? "release" : "recommit";
    const gap = 300 + random() * 500;
    const cutMs = 3 * gap + 1000 + random() * 4000;
    const guess = Math.floor(random() * 2 ** 52).toString(16).padStart(32, "0");
    const retarget = random() < 0.6;
    const pickOther = random();
    later(at, () => {
      const p = e.alive().find((x) => x.node.scopeHeld(scope));
      if (!p) return;
      const others = e.alive().filter((x) => x.region !== p.region && x.node.regional.isLeader());
      // Not for `recommit`: a forged grant naming another node is confirmed by
      // it, a hole term secrets do not close (docs/quorum.md, "Forged scope records").
      const to = kind === "release" && retarget && others.length ? others[Math.floor(pickOther * others.length)]! : null;
      const labels = stores.map((s) => e.labelOf(p.id, s.name));
      labels.forEach((l) => net.partitioned.add(l));
      log(`${p.id} CUT from ${stores.map((s) => s.name).join(",")} ${cutMs.toFixed(0)} ms; forging ${kind} of scope ${scope} there${to ? ` naming ${to.id}` : ""}`);
      kick();
      sched.setTimeout(() => (labels.forEach((l) => net.partitioned.delete(l)), log(`${p.id} links to ${stores.map((s) => s.name).join(",")} healed`), kick()), cutMs);
      const steps: ((r: ScopeRecord) => ScopeRecord)[] =
        kind === "release"
          ? [(r) => ({ ...r, state: "released", reveal: guess })]
          : [(r) => ({ ...r, state: "granted" }), (r) => ({ ...r, state: "held", commit: commitOf(FORGER_SECRET) }), (r) => ({ ...r, state: "released", reveal: FORGER_SECRET })];
      // The record each store showed when the forger started: every step builds on it.
      const base = new Map(stores.map((s) => [s, scopeViewOf(s.peek(scopeKey(scope)))]));
      steps.forEach((step, i) =>
        sched.setTimeout(() => {
          for (const s of stores) {
            const v = base.get(s)!;
            if (v.state !== "held" && v.state !== "granted") continue;
            const r: ScopeRecord = { ...v.record, token: v.token, ...(to ? { region: to.region, node: to.id } : {}) };
            delete r.commit;
            delete r.reveal;
            delete r.recall;
            s.forge(scopeKey(scope), "put", encodeScope(step(r)));
            log(`forged ${step(r).state} of scope ${scope} (${r.node}, term ${v.token}) on ${s.name}`);
          }
          kick();
        }, i * gap),
      );
    });
    last = Math.max(last, at + cutMs);
  }
  return last;
}
