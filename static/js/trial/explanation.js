// The model's explanation shown with a stimulus, in one of three displays:
//   side_by_side  the overlay next to the image (stacked when there is no room)
//   toggle        the overlay behind a button; every opening is logged
//   examples      a row of prototype images of the class the model predicted
// Explanation images count as part of the stimulus: main.js loads and checks
// them with the image and reveals them in the same frame.

import { el } from "./render.js";
import { now } from "./timing.js";

export const DISPLAYS = ["side_by_side", "toggle", "examples"];

// The server refuses more than 100 logged openings (ClientInfo in
// studies/api/serializers.py); past 30, a participant who keeps opening it still
// gets their answer saved, with the first 30 openings.
const MAX_VIEWS_LOGGED = 30;

// A legend stop as the server sends it ("#00224e 5.49%"); anything else is refused
// rather than written into a style.
const LEGEND_STOP = /^#[0-9a-f]{6} \d+(\.\d+)?%$/;

/**
 * The heatmap's colour legend, low to high relevance: a bar painted with the
 * colour map's own stops (the server reads them from the table the overlays
 * were rendered with), or null when the trial carries none (trials assigned
 * before legends existed).
 */
export function legendFor(explanation) {
  const stops = explanation.legend && explanation.legend.stops;
  if (!Array.isArray(stops) || stops.length < 2 || !stops.every((stop) => LEGEND_STOP.test(stop))) return null;
  const bar = el("span", { class: "heatmap-legend-bar" });
  // Through the CSSOM, which the page's style-src 'self' policy allows (a style attribute it would not).
  bar.style.backgroundImage = `linear-gradient(to right, ${stops.join(", ")})`;
  return el(
    "div",
    { id: "heatmap-legend", class: "heatmap-legend", role: "img", "aria-label": "Colour scale of the heatmap, from low to high relevance" },
    el("span", { class: "heatmap-legend-label", text: "low" }),
    bar,
    el("span", { class: "heatmap-legend-label", text: "high relevance" }),
  );
}

function overlayFigure(explanation, extra = {}) {
  const img = el("img", {
    id: "explanation-image",
    class: "stimulus explanation-image",
    width: explanation.image.width,
    height: explanation.image.height,
    alt: "The image with the model's explanation laid over it",
    draggable: "false",
  });
  const figure = el(
    "figure",
    { class: "stimulus-frame explanation-frame", ...extra },
    img,
    legendFor(explanation),
    el("figcaption", { id: "explanation-caption", class: "explanation-caption", text: explanation.caption }),
  );
  return { img, figure };
}

function sideBySideFigure(explanation) {
  const { img, figure } = overlayFigure(explanation);
  return { figure, images: [{ img, url: explanation.image.url, sha256: explanation.image.sha256 || "", role: "explanation" }] };
}

function examplesFigure(explanation) {
  const examples = explanation.examples;
  const imgs = examples.map((example, i) =>
    el("img", {
      class: "stimulus explanation-example",
      width: example.width,
      height: example.height,
      alt: `Example ${i + 1} of the class the model predicted`,
      draggable: "false",
    }),
  );
  const figure = el(
    "figure",
    { id: "explanation-examples", class: "explanation-examples" },
    // The caption says what the examples are, so it comes before them.
    el("figcaption", { id: "explanation-caption", class: "explanation-caption", text: explanation.caption }),
    el("div", { class: "examples-row" }, ...imgs),
  );
  return {
    figure,
    images: imgs.map((img, i) => ({ img, url: examples[i].url, sha256: examples[i].sha256 || "", role: `example ${i + 1}` })),
  };
}

/**
 * The toggle display: a button that shows and hides the overlay. Openings are
 * logged relative to stimulus onset so analysis can tell whether (and when)
 * the participant looked at the explanation before answering.
 */
function toggleDisplay(explanation) {
  const { img, figure } = overlayFigure(explanation, { id: "explanation-panel", hidden: true });
  const button = el("button", {
    type: "button",
    id: "explanation-toggle",
    class: "secondary explanation-toggle",
    "aria-expanded": "false",
    "aria-controls": "explanation-panel",
    disabled: true,
    text: "Show explanation",
  });
  const views = [];
  let onset = null;
  let scaledWhileOpen = false;
  const setOpen = (open) => {
    figure.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Hide explanation" : "Show explanation";
    const at = Math.round(now() - onset);
    if (open) {
      if (views.length < MAX_VIEWS_LOGGED) views.push({ open_ms: at, close_ms: null });
      // A hidden image has no size; measure now that it is laid out.
      scaledWhileOpen = scaledWhileOpen || isScaled(img);
    } else if (views.length && views[views.length - 1].close_ms === null) {
      views[views.length - 1].close_ms = at;
    }
  };
  button.addEventListener("click", () => setOpen(figure.hidden));
  return {
    beside: [figure],
    controls: el("div", { class: "explanation-controls" }, button),
    images: [{ img, url: explanation.image.url, sha256: explanation.image.sha256 || "", role: "explanation" }],
    start(at) {
      onset = at;
    },
    setEnabled(on) {
      button.disabled = !on;
    },
    scaled: () => scaledWhileOpen || isScaled(img),
    client: () => ({ explanation_views: views.map((v) => ({ ...v })) }),
  };
}

/**
 * True when a laid-out image is not shown pixel-exact: scaled down to fit
 * (scale.js), or more than 1 CSS px off its natural size times its display scale.
 */
export function isScaled(img) {
  if (!img.naturalWidth || img.getClientRects().length === 0) return false;
  const scale = Number(img.dataset.scale) || 1;
  if (scale < 1) return true;
  const box = img.getBoundingClientRect();
  return Math.abs(box.width - img.naturalWidth * scale) > 1 || Math.abs(box.height - img.naturalHeight * scale) > 1;
}

function shownDisplay(explanation) {
  const shown = explanation.display === "examples" ? examplesFigure(explanation) : sideBySideFigure(explanation);
  return {
    beside: [shown.figure],
    controls: null,
    images: shown.images,
    start() {},
    setEnabled() {},
    scaled: () => shown.images.some(({ img }) => isScaled(img)),
    client: () => ({}),
  };
}

/**
 * The explanation parts for a trial, or null when it has none:
 * {beside: [figures next to the stimulus], controls, images: [{img, url,
 * sha256, role}] to load, start(onset), setEnabled(on), scaled(), client()}.
 */
export function explanationView(explanation) {
  if (!explanation) return null;
  if (!DISPLAYS.includes(explanation.display)) {
    throw new Error(`Unsupported explanation display "${explanation.display}".`);
  }
  const images = explanation.display === "examples" ? explanation.examples : [explanation.image];
  if (!images || images.length === 0 || !images.every((image) => image && image.url)) {
    throw new Error(`The "${explanation.display}" explanation has no images.`);
  }
  return explanation.display === "toggle" ? toggleDisplay(explanation) : shownDisplay(explanation);
}
