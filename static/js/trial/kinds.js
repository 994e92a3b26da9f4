// The answer part of a trial, one builder per kind of question. Each returns
//   {fieldsets, hint, tapHint, complete(), value(), key(key), setEnabled(on)}
// (hint names the keyboard's keys, tapHint says the same for touch screens)
// and calls onChange() whenever the answer changes; screen.js wraps it in the
// form with the stimulus and the submit button. Names and values are the
// hooks the browser tests use: input[name=option] (value = option id) and
// input[name=confidence] (values "1".."5").

import { el } from "./render.js";
import { applyToggle } from "./state.js";

const MAX_NUMBER_KEY = 9;

export const CONFIDENCE_LABELS = ["Not at all sure", "Slightly sure", "Somewhat sure", "Very sure", "Completely sure"];

// Y and N are kept for yes/no options so a letter never means two things.
const POSITION_LETTERS = "ABCDEFGHIJKLMOPQRSTUVWXZ";

/**
 * The key that picks each option of a single-choice trial, "" for none.
 * Number keys when they are free; with a confidence scale they rate
 * confidence, so options get letters: Y and N for "yes" and "no", otherwise
 * A, B, … by position.
 */
export function choiceKeys(options, { confidence = false } = {}) {
  if (!confidence) return options.map((_, i) => (i < MAX_NUMBER_KEY ? String(i + 1) : ""));
  const named = { yes: "Y", no: "N" };
  return options.map((option, i) => named[option.id] || POSITION_LETTERS[i] || "");
}

/** "1–3", "Y and N", "A, B and C": the keys as the hint under the form names them. */
export function describeKeys(keys) {
  const used = keys.filter(Boolean);
  if (used.length > 2 && used.every((k, i) => k === String(i + 1))) return `${used[0]}–${used[used.length - 1]}`;
  if (used.length < 2) return used.join("");
  return `${used.slice(0, -1).join(", ")} and ${used[used.length - 1]}`;
}

function optionRow(option, index, type, key) {
  const id = `option-${index}`;
  const input = el("input", { type, id, name: "option", value: option.id });
  const shortcut = key ? el("kbd", { class: "shortcut", "aria-hidden": "true", text: key }) : null;
  const label = el("label", { class: "option", for: id }, input, shortcut, el("span", { class: "option-text", text: option.text }));
  return { input, label };
}

function fieldset(legend, rows, { visibleLegend = true, id = null, className = "" } = {}) {
  return el(
    "fieldset",
    { id, class: className || null },
    el("legend", { class: visibleLegend ? null : "visually-hidden", text: legend }),
    ...rows.map((r) => r.label),
  );
}

/** topk_select: checkboxes, "none" excludes the rest (applyToggle); keys 1–9 toggle. */
export function topkSelect(trial, { onChange = () => {} } = {}) {
  const multi = trial.multi !== false;
  const order = trial.options.map((o) => o.id);
  const keys = choiceKeys(trial.options);
  const rows = trial.options.map((option, i) => optionRow(option, i, multi ? "checkbox" : "radio", keys[i]));
  let selected = [];

  const sync = () => {
    for (const r of rows) r.input.checked = selected.includes(r.input.value);
    onChange();
  };
  const toggle = (row, checked) => {
    selected = applyToggle(selected, row.input.value, checked, { multi, order });
    sync();
  };
  for (const r of rows) r.input.addEventListener("change", () => toggle(r, r.input.checked));

  // The prompt above already says this; the legend stays for screen readers only.
  const legend = multi ? "Select every label that describes the image." : "Select one label.";
  return {
    fieldsets: [fieldset(legend, rows, { visibleLegend: false, className: "answer-options" })],
    hint: `Keys ${describeKeys(keys)} select, Enter continues.`,
    tapHint: multi ? "Tap every label that fits, then Next." : "Tap one label, then Next.",
    complete: () => selected.length > 0,
    value: () => ({ selected: selected.slice() }),
    key(key) {
      const row = rows[keys.indexOf(key)];
      if (!row || row.input.disabled) return false;
      toggle(row, !selected.includes(row.input.value));
      return true;
    },
    setEnabled(on) {
      for (const r of rows) r.input.disabled = !on;
    },
  };
}

function confidenceScale() {
  const rows = CONFIDENCE_LABELS.map((text, i) => {
    const value = String(i + 1);
    const id = `confidence-${value}`;
    const input = el("input", { type: "radio", id, name: "confidence", value });
    // Seen as "[1] Not at all sure"; read as "1 — Not at all sure".
    const label = el(
      "label",
      { class: "option confidence-option", for: id },
      input,
      el("kbd", { class: "shortcut", "aria-hidden": "true", text: value }),
      el("span", { class: "option-text" }, el("span", { class: "visually-hidden", text: `${value} — ` }), text),
    );
    return { input, label };
  });
  return { rows, node: fieldset("How sure are you?", rows, { id: "confidence-scale", className: "confidence-scale" }) };
}

/**
 * label_check, forced_choice, manipulation_check and attention: one option
 * (radios), plus a 1–5 confidence rating when trial.confidence is set.
 */
export function singleChoice(trial, { onChange = () => {} } = {}) {
  const withConfidence = Boolean(trial.confidence);
  const keys = choiceKeys(trial.options, { confidence: withConfidence });
  const rows = trial.options.map((option, i) => optionRow(option, i, "radio", keys[i]));
  const scale = withConfidence ? confidenceScale() : null;
  let choice = null;
  let confidence = null;

  const sync = () => {
    for (const r of rows) r.input.checked = r.input.value === choice;
    for (const r of scale ? scale.rows : []) r.input.checked = r.input.value === confidence;
    onChange();
  };
  for (const r of rows) {
    r.input.addEventListener("change", () => {
      if (r.input.checked) choice = r.input.value;
      sync();
    });
  }
  for (const r of scale ? scale.rows : []) {
    r.input.addEventListener("change", () => {
      if (r.input.checked) confidence = r.input.value;
      sync();
    });
  }

  const choiceKeysText = describeKeys(keys);
  const hint = withConfidence
    ? `Keys ${choiceKeysText} answer, 1–5 say how sure you are, Enter continues.`
    : `Keys ${choiceKeysText} choose, Enter continues.`;
  // Without a scale the prompt is the only question, so its legend stays for screen readers only.
  const answerSet = fieldset("Your answer", rows, { visibleLegend: withConfidence, id: "choice-options", className: "answer-options" });
  return {
    fieldsets: scale ? [answerSet, scale.node] : [answerSet],
    hint,
    tapHint: withConfidence ? "Tap your answer and how sure you are, then Next." : "Tap your answer, then Next.",
    complete: () => choice !== null && (!withConfidence || confidence !== null),
    value: () => (withConfidence ? { choice, confidence: Number(confidence) } : { choice }),
    key(key) {
      const upper = key.length === 1 ? key.toUpperCase() : "";
      const row = upper ? rows[keys.indexOf(upper)] : null;
      if (row && !row.input.disabled) {
        choice = row.input.value;
        sync();
        return true;
      }
      const rating = scale && /^[1-5]$/.test(key) ? scale.rows[Number(key) - 1] : null;
      if (rating && !rating.input.disabled) {
        confidence = rating.input.value;
        sync();
        return true;
      }
      return false;
    },
    setEnabled(on) {
      for (const r of rows.concat(scale ? scale.rows : [])) r.input.disabled = !on;
    },
  };
}
