/**
 * The shape of one participant, as an xstate actor tree:
 *
 *   node ─ regional elector
 *           ├─ (while regional leader) scope lessee
 *           └─ (while regional leader) global elector
 *                 └─ (while global leader) scope authority
 *
 * The tree *is* the rule "losing regional leadership ends every role beneath
 * it at once": the global elector is invoked inside `regionalLeader`, so the
 * transition out of that state stops it (and the scope authority under it)
 * in the same macrostep. The electors and the authority are injected with
 * `.provide()` (see `node.ts`); this machine only decides which run when.
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
}).createMachine({
  id: "node",
  initial: "running",
  states: {
    running: {
      on: { STOP: "stopped" },
      invoke: { id: "regional", src: "regionalElector", input: { tier: "region" } },
      initial: "regionalFollower",
      states: {
        regionalFollower: {
          on: { "REGIONAL.ELECTED": "regionalLeader" },
        },
        regionalLeader: {
          on: { "REGIONAL.DEPOSED": "regionalFollower" },
          invoke: [
            { id: "lessee", src: "scopeLessee", input: { tier: "scopes" } },
            { id: "global", src: "globalElector", input: { tier: "global" } },
          ],
          initial: "globalCandidate",
          states: {
            globalCandidate: {
              on: { "GLOBAL.ELECTED": "globalLeader" },
            },
            globalLeader: {
              on: { "GLOBAL.DEPOSED": "globalCandidate" },
              invoke: { id: "scopes", src: "scopeAuthority", input: { tier: "scopes" } },
            },
          },
        },
      },
    },
    stopped: { type: "final" },
  },
});
