// The display scale: a trial's images (the stimulus and its explanation) enlarged
// by the study's whole number with nearest neighbour, so every image pixel stays
// an exact square of screen pixels. A screen too small for that number gets the
// largest whole number that fits; an image too wide for the screen even at 1× is
// scaled down to fit, and the answer records the fraction (ClientInfo's
// display_scale) and flags it as scaled (explanation.js isScaled).

// Share of the window's height an enlarged image may take, so the prompt above it
// and (on a phone, in the sticky bar) the answer below stay on screen.
export const MAX_HEIGHT_SHARE = 0.7;
const MAX_SCALE = 4;
const MIN_SCALE = 0.01; // the least ClientInfo accepts

/**
 * The scale to show an image of `natural` {width, height} at, in a `room`
 * {width, height} of CSS px: the largest whole number up to `requested` at
 * which it fits, at least 1; below 1 only when it is wider than the room at 1×.
 */
export function fitScale(requested, natural, room) {
  const wanted = Math.min(MAX_SCALE, Math.max(1, Math.floor(Number(requested) || 1)));
  if (!(natural.width > 0) || !(natural.height > 0) || !(room.width > 0) || !(room.height > 0)) return 1;
  const across = room.width / natural.width;
  if (across < 1) return Math.max(MIN_SCALE, Math.floor(across * 1000) / 1000);
  const down = room.height / natural.height;
  return Math.max(1, Math.min(wanted, Math.floor(across), Math.floor(down)));
}

/** The room the page gives an image: the content width of `app` and a share of the window's height. */
export function roomIn(app) {
  const style = window.getComputedStyle(app);
  const width = app.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return { width, height: window.innerHeight * MAX_HEIGHT_SHARE };
}

/**
 * Sizes an image to natural × scale. Its width and height attributes keep its
 * space reserved before it loads; isScaled() compares what is laid out with
 * data-scale. Nearest neighbour only when enlarging: shrinking by it would drop
 * whole rows of pixels.
 */
export function sizeImage(img, natural, scale) {
  img.setAttribute("width", String(Math.round(natural.width * scale)));
  img.setAttribute("height", String(Math.round(natural.height * scale)));
  img.dataset.scale = String(scale);
  img.classList.toggle("is-enlarged", scale > 1);
}
