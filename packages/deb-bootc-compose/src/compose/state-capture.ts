import type { ComposeState } from "./compose-state.js";
import type { Phase } from "./phase-engine.js";

/**
 * The phases with the run's shared state kept for a look once the compose has ended (what each phase
 * left: trees, commits, disks, boot tests). For tests that drive runCompose themselves.
 */
export function capturingState(phases: readonly Phase[]): { phases: Phase[]; state: () => ComposeState } {
  let state: ComposeState | undefined;
  return {
    phases: phases.map((phase) => ({
      ...phase,
      async run(ctx) {
        state = ctx.state;
        await phase.run(ctx);
      },
    })),
    state: () => {
      if (!state) throw new Error("no phase ran: there is no state to look at");
      return state;
    },
  };
}
