/**
 * The shape of one participant, as an xstate actor tree:
 *
 *   node ─ regional elector
 *        ├─ global elector (a candidate only while regional leader)
 *        ├─ scope authority (watches always; writes only while global leader)
 *        └─ (while regional leader) scope lessee
 *
 * The global election and the scope authority run from the start so that
 * what they watch is already watched for a lease when the node needs it: a
 * new regional leader can bid for the global lease, and a new global leader
 * can move a lost region's scopes, without first waiting a lease of its own
 * (issue 11: start-up and failover both paid that wait in series).
 *
 * The tree still *is* the rule "losing regional leadership ends every role
 * beneath it at once": leaving `regionalLeader` withdraws the global
 * candidacy (`withdrawGlobal`, which ends a global term in the same call) and
 * stops the lessee, in the same macrostep. The electors, the authority and
 * the four actions are injected with `.provide()` (see `node.ts`); this
 * machine only decides which run when.
 */
import { fromCallback, setup } from "xstate";

export type NodeEvent =
  | { type: "REGIONAL.ELECTED"; token: number }
  | { type: "REGIONAL.DEPOSED"; token: number; reason: string }
  | { type: "GLOBAL.ELECTED"; token: number }
  | { type: "GLOBAL.DEPOSED"; token: number; reason: string }
  | { type: "STOP" };

/** Placeholder child: `node.ts` provides the real electors. */
const unprovided = fromCallback<NodeEvent, { tier: string }>(() => () => {});

export const nodeMachine = setup({
  types: {
    events: {} as NodeEvent,
  },
  actors: {
    regionalElector: unprovided,
    globalElector: unprovided,
    scopeLessee: unprovided,
    scopeAuthority: unprovided,
  },
  actions: {
    /** The global election may bid (entering regional leadership). */
    offerGlobal: () => {},
    /** The global election stops bidding and ends a held term at once. */
    withdrawGlobal: () => {},
    /** The scope authority may write (entering global leadership). */
    empowerAuthority: () => {},
    /** The scope authority writes no more; pending moves fail. */
    disempowerAuthority: () => {},
  },
}).createMachine({
  id: "node",
  initial: "running",
  states: {
    running: {
      on: { STOP: "stopped" },
      invoke: [
        { id: "regional", src: "regionalElector", input: { tier: "region" } },
        { id: "global", src: "globalElector", input: { tier: "global" } },
        { id: "scopes", src: "scopeAuthority", input: { tier: "scopes" } },
      ],
      initial: "regionalFollower",
      states: {
        regionalFollower: { on: { "REGIONAL.ELECTED": "regionalLeader" } },
        regionalLeader: {
          on: { "REGIONAL.DEPOSED": "regionalFollower" },
          entry: "offerGlobal",
          exit: "withdrawGlobal",
          invoke: { id: "lessee", src: "scopeLessee", input: { tier: "scopes" } },
          initial: "globalCandidate",
          states: {
            globalCandidate: { on: { "GLOBAL.ELECTED": "globalLeader" } },
            // The lease authority writes only while this node is global leader.
            globalLeader: { on: { "GLOBAL.DEPOSED": "globalCandidate" }, entry: "empowerAuthority", exit: "disempowerAuthority" },
          },
        },
      },
    },
    stopped: { type: "final" },
  },
});
