// DOM building for the participant page's screens other than the trial
// (screen.js, kinds.js, explanation.js). Server text only ever goes through
// textContent; ids and names are the stable hooks the browser tests use.

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

const PREVIEW_TEXT = "Preview: your answers are kept apart from real participants' and never counted";

/** The banner of a researcher's preview, above every screen; empty (and unseen) otherwise. */
export function setPreview(preview) {
  const banner = document.getElementById("preview-banner");
  if (banner) banner.textContent = preview ? PREVIEW_TEXT : "";
}

/** A short message in the status line that clears itself unless replaced meanwhile. */
export function showNotice(text, ms) {
  setConnectionStatus(text);
  setTimeout(() => {
    const status = document.getElementById("connection-status");
    if (status && status.textContent === text) setConnectionStatus(null);
  }, ms);
}

/**
 * The header's progress. The server counts only real trials, so a practice
 * trial says "Practice" rather than a number that would not advance.
 */
export function setProgress(progress, { visible = true, practice = false } = {}) {
  const area = document.getElementById("progress-area");
  if (!area) return;
  const total = Math.max(0, Number(progress && progress.total) || 0);
  const done = Math.min(total, Math.max(0, Number(progress && progress.done) || 0));
  area.hidden = !visible || total === 0;
  document.getElementById("progress").textContent = practice ? "Practice" : `Image ${Math.min(done + 1, total)} of ${total}`;
  const bar = document.getElementById("progress-bar");
  bar.max = total || 1;
  bar.value = done;
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

const OUTCOME_TEXT = {
  completed: ["Thank you!", "Your answers have been saved."],
  no_consent: ["You chose not to take part", "No answers were recorded. Thank you for considering this study; you can close this page."],
  withdrawn: ["You have withdrawn from the study", "Your answers have been deleted. Thank you for your time; you can close this page."],
  screened_out: ["This session has ended", "Some of the check questions were not answered as they asked, so the study ends here for you. Thank you for your time."],
  full: ["This study is full", "There is no work left in this study: all places have been taken. Thank you for your interest."],
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
