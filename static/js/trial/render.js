// DOM building for the participant page. Server text only ever goes through
// textContent; ids and names are the stable hooks the browser tests use.

import { applyToggle } from "./state.js";

const MAX_SHORTCUT = 9;

/** el("p", {class: "x", text: "..."}, child, ...): attributes via setAttribute. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "hidden") node.hidden = true;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** Plain text with blank lines between paragraphs; single newlines kept by CSS. */
function paragraphs(text, className) {
  const box = el("div", { class: className });
  const parts = String(text || "")
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  for (const part of parts) box.append(el("p", { text: part }));
  return box;
}

// Consent and instructions arrive as Markdown rendered and sanitised by the server (a fixed
// set of formatting tags). DOMParser builds them in an inert document, where nothing runs,
// and the nodes are moved over; plain text is the fallback.
function richText(html, text, className) {
  if (!html) return paragraphs(text, className);
  const box = el("div", { class: className });
  const parsed = new DOMParser().parseFromString(html, "text/html");
  box.append(...Array.from(parsed.body.childNodes, (node) => document.importNode(node, true)));
  return box;
}

function heading(text, id) {
  return el("h1", { id, tabindex: "-1", text });
}

/** Replaces the page content and moves focus to the new screen's heading. */
export function mount(screen) {
  const app = document.getElementById("app");
  app.replaceChildren(screen);
  app.setAttribute("aria-busy", "false");
  const target = screen.querySelector("[data-autofocus]") || screen.querySelector("h1");
  window.scrollTo(0, 0);
  if (target) target.focus({ preventScroll: true });
}

export function setConnectionStatus(text) {
  const status = document.getElementById("connection-status");
  if (!status) return;
  status.textContent = text || "";
  status.hidden = !text;
}

export function setProgress(progress, visible = true) {
  const area = document.getElementById("progress-area");
  if (!area) return;
  const total = Math.max(0, Number(progress && progress.total) || 0);
  const done = Math.min(total, Math.max(0, Number(progress && progress.done) || 0));
  area.hidden = !visible || total === 0;
  document.getElementById("progress").textContent = `Image ${Math.min(done + 1, total)} of ${total}`;
  const bar = document.getElementById("progress-bar");
  bar.max = total || 1;
  bar.value = done;
}

export function loadingScreen(text = "Loading…") {
  return el("section", { class: "screen text" }, el("p", { class: "loading", role: "status", text }));
}

export function consentScreen(consent, { onAgree, onDecline }) {
  const agree = el("button", { type: "button", id: "consent-agree", class: "primary", text: "I agree" });
  const decline = el("button", { type: "button", id: "consent-decline", class: "secondary", text: "I do not agree" });
  agree.addEventListener("click", () => onAgree());
  decline.addEventListener("click", () => onDecline());
  const screen = el(
    "section",
    { class: "screen text", "aria-labelledby": "consent-title" },
    heading("Consent to take part", "consent-title"),
    richText(consent && consent.html, consent && consent.text, "prose consent-text"),
    el("div", { class: "actions" }, agree, decline),
  );
  return {
    screen,
    setBusy(busy) {
      agree.disabled = busy;
      decline.disabled = busy;
    },
  };
}

export function instructionsScreen({ html, text }, { onStart }) {
  const start = el("button", { type: "button", id: "start-trials", class: "primary", text: "Start" });
  start.addEventListener("click", () => {
    start.disabled = true;
    onStart();
  });
  const body = String(text || "").trim()
    ? richText(html, text, "prose")
    : paragraphs("When you are ready, press Start.", "prose");
  const screen = el(
    "section",
    { class: "screen text", "aria-labelledby": "instructions-title" },
    heading("Instructions", "instructions-title"),
    body,
    el("div", { class: "actions" }, start),
  );
  return { screen };
}

function optionRow(option, index, type) {
  const input = el("input", { type, id: `option-${index}`, name: "option", value: option.id });
  const shortcut = index < MAX_SHORTCUT ? el("kbd", { class: "shortcut", "aria-hidden": "true", text: String(index + 1) }) : null;
  const label = el("label", { class: "option", for: `option-${index}` }, input, shortcut, el("span", { class: "option-text", text: option.text }));
  return { input, label };
}

function withdrawBlock(onWithdraw) {
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

/**
 * A topk_select trial. The body stays invisible (space reserved by the
 * image's width/height) until reveal(), so the image and the options appear
 * in the same frame the reaction time starts from.
 */
export function topkSelectScreen(trial, { onSubmit, onWithdraw }) {
  const multi = trial.multi !== false;
  const order = trial.options.map((o) => o.id);
  let selected = [];
  const rows = trial.options.map((option, i) => optionRow(option, i, multi ? "checkbox" : "radio"));
  const submit = el("button", { type: "submit", id: "submit-answer", class: "primary", disabled: true, text: "Next" });
  const img = el("img", {
    id: "stimulus",
    class: "stimulus",
    width: trial.image.width,
    height: trial.image.height,
    alt: "The image to judge",
    draggable: "false",
  });
  const hint = multi ? "Select every label that describes the image." : "Select one label.";
  const shortcuts = `Keys 1–${Math.min(rows.length, MAX_SHORTCUT)} select, Enter continues.`;
  const form = el(
    "form",
    { class: "answer-form", id: "answer-form", novalidate: true },
    // The prompt above already says this; the legend stays for screen readers only.
    el("fieldset", {}, el("legend", { class: "visually-hidden", text: hint }), ...rows.map((r) => r.label)),
    el("div", { class: "actions" }, submit),
    el("p", { class: "shortcut-hint", text: shortcuts }),
  );
  const body = el("div", { class: "trial-body is-pending" }, el("figure", { class: "stimulus-frame" }, img), form);
  const withdraw = withdrawBlock(onWithdraw);
  const screen = el(
    "section",
    { class: "screen trial", "aria-labelledby": "trial-prompt" },
    heading(trial.prompt, "trial-prompt"),
    body,
    withdraw.node,
  );

  let enabled = false;
  const sync = () => {
    for (const r of rows) r.input.checked = selected.includes(r.input.value);
    submit.disabled = !enabled || selected.length === 0;
  };
  for (const r of rows) {
    r.input.addEventListener("change", () => {
      selected = applyToggle(selected, r.input.value, r.input.checked, { multi, order });
      sync();
    });
  }
  form.addEventListener("submit", (event) => event.preventDefault());
  // Mouse, touch and keyboard activation of the button (and the browser's
  // implicit submission, which clicks it) all arrive here as a click.
  const canSubmit = () => enabled && selected.length > 0 && !withdraw.isOpen();
  submit.addEventListener("click", (event) => {
    event.preventDefault();
    if (canSubmit()) onSubmit(inputKind(event));
  });

  return {
    screen,
    img,
    reveal() {
      body.classList.remove("is-pending");
    },
    selected: () => selected.slice(),
    canSubmit,
    withdrawOpen: () => withdraw.isOpen(),
    /** Keyboard shortcut: Enter. */
    submitByKey() {
      if (canSubmit()) onSubmit("key");
    },
    /** Keyboard shortcut: toggles the nth option (1-based). */
    toggle(n) {
      const row = rows[n - 1];
      if (!enabled || !row || n > MAX_SHORTCUT) return;
      const checked = !selected.includes(row.input.value);
      selected = applyToggle(selected, row.input.value, checked, { multi, order });
      sync();
    },
    setEnabled(on) {
      enabled = on;
      for (const r of rows) r.input.disabled = !on;
      withdraw.setEnabled(on);
      sync();
    },
    setSaving(saving) {
      submit.textContent = saving ? "Saving…" : "Next";
      form.setAttribute("aria-busy", String(saving));
    },
  };
}

const OUTCOME_TEXT = {
  completed: ["Thank you!", "Your answers have been saved."],
  no_consent: ["You chose not to take part", "No answers were recorded. Thank you for considering this study; you can close this page."],
  withdrawn: ["You have withdrawn from the study", "Your answers have been deleted. Thank you for your time; you can close this page."],
  screened_out: ["Thank you for your interest", "You are not eligible to take part in this study."],
  full: ["This study is full", "All places in this study have been taken. Thank you for your interest."],
};

/** Only http(s) redirect targets are followed. */
export function safeRedirect(url) {
  if (!url) return "";
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : "";
  } catch {
    return "";
  }
}

export function completionScreen(completion) {
  const outcome = (completion && completion.outcome) || "";
  const [title, message] = OUTCOME_TEXT[outcome] || ["This session has ended", "Thank you for your time; you can close this page."];
  const code = completion && completion.code ? String(completion.code) : "";
  const redirect = safeRedirect(completion && completion.redirect_url);
  const parts = [heading(title, "completion-title"), el("p", { text: message })];
  if (code) {
    const copy = el("button", { type: "button", id: "copy-code", class: "secondary", text: "Copy code" });
    copy.hidden = !(navigator.clipboard && window.isSecureContext);
    copy.addEventListener("click", () => {
      navigator.clipboard.writeText(code).then(() => (copy.textContent = "Copied"), () => (copy.hidden = true));
    });
    parts.push(
      el("p", { text: "Your completion code:" }),
      el("p", { class: "code-row" }, el("code", { id: "completion-code", class: "completion-code", text: code }), copy),
    );
  }
  if (redirect) {
    parts.push(
      el("p", { id: "redirect-note", text: "You will be taken back automatically in 3 seconds." }),
      el("div", { class: "actions" }, el("a", { id: "completion-redirect", class: "button primary", href: redirect, text: "Continue" })),
    );
  }
  return { screen: el("section", { class: "screen text done", "aria-labelledby": "completion-title" }, ...parts), redirect };
}

export function errorScreen(message, { title = "Something went wrong", actionLabel = "", onAction = null } = {}) {
  const parts = [heading(title, "error-title"), el("p", { id: "error-message", role: "alert", text: message })];
  if (actionLabel && onAction) {
    const action = el("button", { type: "button", id: "error-retry", class: "primary", text: actionLabel });
    action.addEventListener("click", onAction);
    parts.push(el("div", { class: "actions" }, action));
  }
  return { screen: el("section", { class: "screen text error", "aria-labelledby": "error-title" }, ...parts) };
}
