// Fetches stimulus bytes, checks them against their content hash and decodes
// them before a trial is shown. Stimulus URLs are content-addressed
// (/stimuli/<sha256>.<ext>, architecture section 5), so bytes that do not hash
// to the name are a broken proxy or cache: they are refetched, and a trial whose
// images stay unavailable is reported instead of shown.

import { backoffDelay, sleepOrOnline } from "./api.js";

const FETCH_TIMEOUT_MS = 30000;
const STIMULUS_PATH = /\/stimuli\/([0-9a-f]{64})\.[a-z0-9]+$/i;

/** The sha256 a content-addressed stimulus URL promises, or "" when it names none. */
export function expectedHash(url) {
  const path = String(url || "").split(/[?#]/)[0];
  const match = STIMULUS_PATH.exec(path);
  return match ? match[1].toLowerCase() : "";
}

/** Only secure contexts (https, localhost, 127.0.0.1) have crypto.subtle. */
export function canHash() {
  return Boolean(globalThis.crypto && crypto.subtle && typeof crypto.subtle.digest === "function");
}

async function sha256Hex(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Why an image could not be used; `reason` is what the problem report sends. */
export class ImageError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = "ImageError";
    this.reason = reason;
  }
}

/**
 * The bytes of `url` as {blob, digest}; digest is null when hashing is not
 * available. `reload` bypasses the HTTP cache, which may hold the bad copy
 * that made an earlier attempt fail.
 */
async function fetchBytes(url, { reload = false } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
  try {
    let response;
    try {
      response = await fetch(url, { cache: reload ? "reload" : "default", signal: controller.signal });
    } catch {
      throw new ImageError("image_unavailable", "network error");
    }
    if (!response.ok) throw new ImageError("image_unavailable", `HTTP ${response.status}`);
    const buffer = await response.arrayBuffer().catch(() => {
      throw new ImageError("image_unavailable", "download interrupted");
    });
    const digest = canHash() ? await sha256Hex(buffer) : null;
    return { blob: new Blob([buffer], { type: response.headers.get("Content-Type") || "" }), digest };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Verified image bytes shared by the preloader and the current trial. At most
 * `concurrency` downloads run at once; the current trial's images jump the
 * queue. Finished downloads are kept (the newest `keep`) for the trial that
 * needs them; a failed one is forgotten so it is fetched again when needed.
 */
export function createImageStore({ concurrency = 2, keep = 12, fetcher = fetchBytes } = {}) {
  const entries = new Map(); // url -> Promise<{blob, digest}>, oldest first
  const queue = [];
  let active = 0;

  function pump() {
    while (active < concurrency && queue.length > 0) {
      const job = queue.shift();
      active += 1;
      fetcher(job.url, { reload: job.reload })
        .then(job.resolve, (error) => {
          if (entries.get(job.url) === job.promise) entries.delete(job.url);
          job.reject(error);
        })
        .finally(() => {
          active -= 1;
          pump();
        });
    }
  }

  function enqueue(url, { urgent = false, reload = false } = {}) {
    const job = { url, reload };
    job.promise = new Promise((resolve, reject) => Object.assign(job, { resolve, reject }));
    job.promise.catch(() => {}); // Preloads are best effort; get() reports its own failures.
    entries.set(url, job.promise);
    if (urgent) queue.unshift(job);
    else queue.push(job);
    return job;
  }

  function trim() {
    while (entries.size > keep) {
      const oldest = entries.keys().next().value;
      entries.delete(oldest);
      const queued = queue.findIndex((job) => job.url === oldest);
      if (queued >= 0) queue.splice(queued, 1);
    }
  }

  return {
    /** Starts fetching upcoming URLs in the background (not already held). */
    preload(urls) {
      for (const url of urls || []) {
        if (url && !entries.has(url)) enqueue(url);
      }
      trim();
      pump();
    },
    /** The bytes for a trial that is waiting: a held or running download, or a new urgent one. */
    get(url, { reload = false } = {}) {
      if (!reload && entries.has(url)) {
        const queued = queue.findIndex((job) => job.url === url);
        if (queued > 0) queue.unshift(...queue.splice(queued, 1));
        // Re-inserting keeps an entry that is in use among the newest.
        const promise = entries.get(url);
        entries.delete(url);
        entries.set(url, promise);
        pump();
        return promise;
      }
      const queued = queue.findIndex((job) => job.url === url);
      if (queued >= 0) queue.splice(queued, 1);
      const { promise } = enqueue(url, { urgent: true, reload });
      trim();
      pump();
      return promise;
    },
    forget(url) {
      entries.delete(url);
    },
    get active() {
      return active;
    },
    get queued() {
      return queue.length;
    },
  };
}

/**
 * Puts one verified, decoded image into `img` through an object URL. Retries
 * with back-off; failures while the browser says it is offline do not count
 * towards `attempts`. Resolves {objectUrl, checked}; rejects with ImageError.
 */
async function loadOne(store, { img, url, sha256 }, { attempts, onRetry }) {
  let failures = 0;
  for (let tries = 0; ; tries += 1) {
    let objectUrl = null;
    try {
      const { blob, digest } = await store.get(url, { reload: tries > 0 });
      if (digest && sha256 && digest !== sha256) {
        throw new ImageError("checksum_mismatch", `sha256 ${digest.slice(0, 12)}… instead of ${sha256.slice(0, 12)}…`);
      }
      objectUrl = URL.createObjectURL(blob);
      img.src = objectUrl;
      await img.decode().catch(() => {
        throw new ImageError("image_unavailable", "the file could not be decoded");
      });
      return { objectUrl, checked: Boolean(digest && sha256) };
    } catch (error) {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      img.removeAttribute("src");
      store.forget(url);
      if (navigator.onLine !== false) failures += 1;
      if (failures >= attempts) throw error instanceof ImageError ? error : new ImageError("image_unavailable", String(error));
      onRetry(tries + 1);
      await sleepOrOnline(backoffDelay(Math.min(tries, 10)));
    }
  }
}

/**
 * Loads every image of a trial (stimulus and explanation images), all or none:
 * the trial is revealed only when each one is verified and decoded.
 * `images`: [{img, url, sha256, role}]; sha256 "" means taken from the URL.
 * Resolves {checked, release}: checked is true only if every image's bytes
 * matched a known hash; release() revokes the object URLs once the trial's
 * screen is gone. Rejects with an ImageError whose message names the image.
 */
export async function loadTrialImages(store, images, { attempts = 4, onRetry = () => {} } = {}) {
  const objectUrls = [];
  const release = () => objectUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
  const results = await Promise.allSettled(
    images.map(async (image) => {
      const wanted = { ...image, sha256: (image.sha256 || expectedHash(image.url)).toLowerCase() };
      try {
        const loaded = await loadOne(store, wanted, { attempts, onRetry });
        objectUrls.push(loaded.objectUrl);
        return loaded.checked;
      } catch (error) {
        const named = new ImageError(error.reason, `${image.role} ${image.url}: ${error.message}, ${attempts} attempts`);
        throw named;
      }
    }),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    release();
    throw failed.reason;
  }
  return { checked: results.every((r) => r.value), release };
}
