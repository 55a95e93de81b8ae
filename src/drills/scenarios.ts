/** Every drill scenario by name. */
import type { ScenarioDef } from "./kit.js";
import { clockScenario } from "./scenario-clock.js";
import { basicScenarios } from "./scenarios-basic.js";
import { networkScenarios } from "./scenarios-network.js";
import type { Scenario } from "./types.js";

export const scenarioDefs: Record<Scenario, ScenarioDef> = {
  ...basicScenarios,
  ...networkScenarios,
  "clock-skew": clockScenario,
};
