// The trial screen shared by every kind: prompt, stimulus (with its
// explanation), the answer form from kinds.js, the submit button, practice
// feedback and withdrawal. Stable hooks for the browser tests: #trial-prompt,
// #stimulus, #submit-answer, #practice-badge, #practice-feedback,
// #practice-continue, #withdraw, #withdraw-confirm, #withdraw-cancel,
// #shortcut-hint (keyboards) and #tap-hint (touch screens; CSS shows the one
// that fits the device).

import { explanationView, isScaled } from "./explanation.js";
import { el } from "./render.js";
import { fitScale, roomIn, sizeImage } from "./scale.js";

/** The withdraw link and its confirmation, on the instructions and every trial. */
export function withdrawBlock(onWithdraw) {
  const open = el("button", {
    type: "button",
    id: "withdraw",
    class: "link-button",
    "aria-expanded": "false",
    "aria-controls": "withdraw-panel",
    text: "Withdraw from the study",
  });
  const confirm = el("button", { type: "button", id: "withdraw-confirm", class: "danger", text: "Yes, withdraw" });
  const cancel = el("button", { type: "button", id: "withdraw-cancel", class: "secondary", text: "No, continue" });
  const panel = el(
    "div",
    { id: "withdraw-panel", class: "withdraw-panel", role: "group", "aria-labelledby": "withdraw-title", hidden: true },
    el("h2", { id: "withdraw-title", text: "Withdraw from the study?" }),
    el("p", { text: "If you withdraw, the answers you have given so far will be deleted and the study ends for you." }),
    el("div", { class: "actions" }, confirm, cancel),
  );
  const setOpen = (isOpen) => {
    panel.hidden = !isOpen;
    open.setAttribute("aria-expanded", String(isOpen));
    (isOpen ? cancel : open).focus();
  };
  open.addEventListener("click", () => setOpen(panel.hidden));
  cancel.addEventListener("click", () => setOpen(false));
  confirm.addEventListener("click", () => {
    confirm.disabled = true;
    cancel.disabled = true;
    onWithdraw();
  });
  return {
    node: el("div", { class: "withdraw" }, open, panel),
    isOpen: () => !panel.hidden,
    setEnabled(enabled) {
      open.disabled = !enabled;
      if (!enabled && !panel.hidden && !confirm.disabled) setOpen(false);
    },
  };
}

/** How the submit was triggered: "key", "mouse" or "touch". */
function inputKind(event) {
  if (!event || event.detail === 0) return "key";
  const type = event.pointerType || lastPointerType;
  return type === "touch" || type === "pen" ? "touch" : "mouse";
}
let lastPointerType = "mouse";
document.addEventListener("pointerdown", (event) => {
  lastPointerType = event.pointerType || "mouse";
}, { capture: true, passive: true });

const VERDICTS = new Map([
  [true, ["Correct", "is-correct"]],
  [false, ["Not quite", "is-wrong"]],
]);

/**
 * After a practice answer is saved: what the server says about it, and a
 * button to go on. #practice-feedback stays in the page (empty) from the
 * start, so screen readers announce it when the text arrives.
 */
function feedbackBlock() {
  const status = el("div", { id: "practice-feedback", class: "practice-feedback", role: "status" });
  const next = el("button", {
    type: "button",
    id: "practice-continue",
    class: "primary",
    "aria-describedby": "practice-feedback",
    text: "Continue",
  });
  const actions = el("div", { class: "actions", hidden: true }, next);
  let onContinue = null;
  next.addEventListener("click", () => {
    if (!onContinue) return;
    const go = onContinue;
    onContinue = null;
    next.disabled = true;
    go();
  });
  return {
    nodes: [status, actions],
    show({ correct = null, message = "" } = {}, then) {
      const [verdict, className] = VERDICTS.get(correct) || ["", "is-neutral"];
      status.classList.add(className);
      const parts = [];
      if (verdict) parts.push(el("p", { class: "feedback-verdict", text: verdict }));
      if (message) parts.push(el("p", { class: "feedback-message", text: message }));
      status.replaceChildren(...parts);
      onContinue = then;
      actions.hidden = false;
      next.focus();
    },
    continueByKey: () => next.click(),
  };
}

function stimulusImage(image) {
  return el("img", {
    id: "stimulus",
    class: "stimulus",
    width: image.width,
    height: image.height,
    alt: "The image to judge",
    draggable: "false",
  });
}

/**
 * A trial of any kind. The body stays invisible (space reserved by the
 * images' width/height) until reveal(), so the stimulus, its explanation and
 * the options appear in the same frame the reaction time starts from.
 * `makeAnswer(trial, {onChange})` is one of the builders in kinds.js.
 */
export function trialScreen(trial, makeAnswer, { onSubmit, onWithdraw }) {
  const explanation = explanationView(trial.explanation);
  const img = stimulusImage(trial.image);
  const submit = el("button", { type: "submit", id: "submit-answer", class: "primary", disabled: true, text: "Next" });
  const submitRow = el("div", { class: "actions" }, submit);
  const feedback = trial.practice ? feedbackBlock() : null;
  const withdraw = withdrawBlock(onWithdraw);
  let enabled = false;
  const answer = makeAnswer(trial, { onChange: () => sync() });
  const canSubmit = () => enabled && answer.complete() && !withdraw.isOpen();
  const sync = () => {
    submit.disabled = !enabled || !answer.complete();
  };

  const form = el(
    "form",
    // data-trial-id tells a browser test which trial is on screen and when it has gone.
    { class: "answer-form", id: "answer-form", "data-trial-id": trial.id, novalidate: true },
    ...answer.fieldsets,
    submitRow,
    ...(feedback ? feedback.nodes : []),
    el("p", { id: "shortcut-hint", class: "input-hint key-hint", text: answer.hint }),
    el("p", { id: "tap-hint", class: "input-hint tap-hint", text: answer.tapHint }),
  );
  form.addEventListener("submit", (event) => event.preventDefault());
  // Mouse, touch and keyboard activation of the button (and the browser's
  // implicit submission, which clicks it) all arrive here as a click.
  submit.addEventListener("click", (event) => {
    event.preventDefault();
    if (canSubmit()) onSubmit(inputKind(event));
  });

  const figures = el(
    "div",
    { class: "stimulus-area" },
    el("figure", { class: "stimulus-frame" }, img),
    ...(explanation ? explanation.beside : []),
  );
  const body = el(
    "div",
    { class: "trial-body is-pending" },
    el("div", { class: "stimulus-column" }, figures, explanation && explanation.controls),
    form,
  );
  // Every image at its file's size (the width and height the server sent), for scale.js.
  const sized = [img, ...(explanation ? explanation.images.map((image) => image.img) : [])].map((node) => ({
    node,
    natural: { width: Number(node.getAttribute("width")), height: Number(node.getAttribute("height")) },
  }));
  let scale = 1;
  const badge = trial.practice ? el("span", { id: "practice-badge", class: "practice-badge", text: "Practice" }) : null;
  const screen = el(
    "section",
    { class: "screen trial", "aria-labelledby": "trial-prompt" },
    // The badge sits inside the heading so it is announced when the heading takes focus.
    el("h1", { id: "trial-prompt", tabindex: "-1" }, badge, badge ? " " : null, trial.prompt),
    body,
    withdraw.node,
  );

  return {
    screen,
    img,
    /** Every image to load and verify before reveal: [{img, url, sha256, role}]. */
    images: [{ img, url: trial.image.url, sha256: trial.image.sha256 || "", role: "stimulus" }].concat(
      explanation ? explanation.images : [],
    ),
    reveal() {
      body.classList.remove("is-pending");
    },
    /**
     * Sizes the images at the study's display scale or what the page has room
     * for (scale.js); the explanation at the stimulus's scale. Called once the
     * screen is mounted, and again when the window's size changes.
     */
    fit() {
      if (!screen.isConnected) return; // a trial already replaced
      scale = fitScale(trial.display_scale, sized[0].natural, roomIn(screen.parentElement));
      for (const { node, natural } of sized) sizeImage(node, natural, scale);
    },
    /** Called with the stimulus onset (performance.now()) once it is painted. */
    start(onset) {
      if (explanation) explanation.start(onset);
    },
    answer: () => answer.value(),
    /** Display measurements for `client`: sizes in CSS px, scaled per isScaled(). */
    measure() {
      return {
        displayed: [img.clientWidth, img.clientHeight],
        natural: [img.naturalWidth, img.naturalHeight],
        display_scale: scale,
        scaled: isScaled(img) || Boolean(explanation && explanation.scaled()),
        ...(explanation ? explanation.client() : {}),
      };
    },
    canSubmit,
    withdrawOpen: () => withdraw.isOpen(),
    /** Keyboard shortcut: Enter. */
    submitByKey() {
      if (canSubmit()) onSubmit("key");
    },
    /** Keyboard shortcuts of the answer (numbers, letters); true when the key was used. */
    handleKey(key) {
      return enabled && answer.key(key);
    },
    setEnabled(on) {
      enabled = on;
      answer.setEnabled(on);
      if (explanation) explanation.setEnabled(on);
      withdraw.setEnabled(on);
      sync();
    },
    setSaving(saving) {
      submit.textContent = saving ? "Saving…" : "Next";
      form.setAttribute("aria-busy", String(saving));
    },
    /** Practice trials: shows the server's feedback; `then` runs on Continue. */
    showFeedback(result, then) {
      submitRow.hidden = true;
      feedback.show(result, then);
    },
    continueByKey() {
      if (feedback) feedback.continueByKey();
    },
  };
}
