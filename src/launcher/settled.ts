/**
 * Waiting for a launched deployment to settle, asked over its bus
 * (wire/requests.ts), for drills and tests whose faults must start from a
 * quiet state.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { requestState } from "../wire/requests.js";
import { LaunchFailedError } from "../errors.js";
import { waitFor } from "./ports.js";

/**
 * Waits until the global lease and every scope (`scopes`) are held and on
 * every quorum store (status rows with `agree` = `stores`). A holder on a
 * bare majority (a store not takeable at the grant, caught up a lease or so
 * later) loses its term with one more store; faults that must move nothing
 * else start from here. Polls `state` every 200 ms.
 */
export async function untilQuorumSettled(nc: NatsConnection, cluster: string, scopes: readonly string[], timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
  let last = "";
  await waitFor(
    async () => {
      const s = await requestState(nc, cluster, 2_000).catch(() => undefined);
      if (!s) return false;
      const rows = [["global", s.global] as const, ...scopes.map((n) => [n, s.scopes[n]] as const)];
      last = rows.map(([name, r]) => `${name} ${r?.quorum ? `${r.quorum.agree}/${r.quorum.stores}` : (r?.state ?? "?")}`).join(", ");
      return rows.every(([, r]) => r?.state === "held" && !!r.quorum && r.quorum.agree === r.quorum.stores);
    },
    { timeoutMs, intervalMs: 200, what: "every quorum store to carry the global lease and every scope", ...(signal ? { signal } : {}) },
  ).catch((err: Error) => {
    throw new LaunchFailedError(`${err.message} (last seen: ${last})`, { cause: err });
  });
}
