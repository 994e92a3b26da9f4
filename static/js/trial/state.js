// The trial runner's explicit state machine. Pure: no DOM, no fetch, so the
// browser tests and a node script can exercise it directly.
//
//   loading -> consent -> instructions -> next -> stimulus -> saving -> next ...
//                                          next -> done        stimulus -> withdrawing -> done
//   instructions -> withdrawing     consent can be withdrawn before the first trial too
//   saving -> feedback -> next      a practice trial shows feedback before going on
//   next -> reporting -> next       a trial whose images cannot be loaded is reported and skipped
// Every non-terminal state may go to "error"; "done" and "error" are terminal.

export const TRANSITIONS = Object.freeze({
  loading: ["consent", "instructions", "next", "done", "error"],
  consent: ["instructions", "next", "done", "error"],
  instructions: ["next", "withdrawing", "error"],
  next: ["stimulus", "reporting", "done", "error"],
  reporting: ["next", "error"],
  stimulus: ["saving", "withdrawing", "error"],
  saving: ["next", "feedback", "error"],
  feedback: ["next", "error"],
  withdrawing: ["done", "error"],
  done: [],
  error: [],
});

export function canTransition(from, to) {
  return (TRANSITIONS[from] || []).includes(to);
}

/**
 * Where the client starts for a session as the server describes it.
 * Instructions are shown only before the first answer, so a reload mid-study
 * goes straight back to the first unanswered trial.
 */
export function screenForSession({ state, progress }) {
  switch (state) {
    case "consent":
      return "consent";
    case "instructions":
    case "trials":
      return progress && progress.done > 0 ? "next" : "instructions";
    case "done":
    case "screened_out":
    case "full":
      return "done";
    default:
      return "error";
  }
}

export function createMachine(initial = "loading", onChange = () => {}) {
  let current = initial;
  return {
    get state() {
      return current;
    },
    can(to) {
      return canTransition(current, to);
    },
    go(to) {
      if (!canTransition(current, to)) {
        throw new Error(`Illegal transition ${current} -> ${to}`);
      }
      const from = current;
      current = to;
      onChange(to, from);
      return to;
    },
  };
}

/**
 * The selection after one option is checked or unchecked. "none of these"
 * (and any other exclusive id) clears the rest and is cleared by them; a
 * single-choice trial keeps only the latest. Returned in option order.
 */
export function applyToggle(selected, id, checked, { multi = true, order = [], exclusive = ["none"] } = {}) {
  let next;
  if (!checked) {
    next = selected.filter((s) => s !== id);
  } else if (!multi || exclusive.includes(id)) {
    next = [id];
  } else {
    next = selected.filter((s) => s !== id && !exclusive.includes(s)).concat(id);
  }
  return order.length ? order.filter((o) => next.includes(o)) : next;
}
