// Owns performance.now() and page visibility for reaction times. RT runs from
// the first frame in which the decoded stimulus is visible to the submit.

export function now() {
  return performance.now();
}

function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

/**
 * Counts how long, and how often, the page was hidden between start and
 * stop, so analysis can flag trials where the participant switched tabs.
 */
export function startClock() {
  const start = now();
  let hiddenSince = document.visibilityState === "hidden" ? start : null;
  let hiddenMs = 0;
  let hiddenCount = 0;
  const onVisibility = () => {
    if (document.visibilityState === "hidden") {
      if (hiddenSince === null) {
        hiddenSince = now();
        hiddenCount += 1;
      }
    } else if (hiddenSince !== null) {
      hiddenMs += now() - hiddenSince;
      hiddenSince = null;
    }
  };
  document.addEventListener("visibilitychange", onVisibility);
  let result = null;
  return {
    start,
    stop() {
      if (result) return result;
      const end = now();
      document.removeEventListener("visibilitychange", onVisibility);
      if (hiddenSince !== null) hiddenMs += end - hiddenSince;
      result = {
        rt_ms: Math.round(end - start),
        hidden_ms: Math.round(hiddenMs),
        hidden_count: hiddenCount,
      };
      return result;
    },
  };
}

/**
 * Reveals an image and starts the clock at the frame it is painted in:
 * decode first (so reveal is not followed by a progressive paint), then
 * reveal, then one requestAnimationFrame before reading the time.
 */
export async function showStimulus(img, reveal) {
  try {
    await img.decode();
  } catch {
    // Already checked by the loader; a late decode failure still shows the
    // image rather than blocking the participant.
  }
  reveal();
  await nextFrame();
  return startClock();
}
