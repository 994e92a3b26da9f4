// Fetches and decodes images ahead of need: the "upcoming" stimuli with
// bounded concurrency, and the current stimulus with retries.

import { backoffDelay } from "./api.js";

function loadAndDecode(url) {
  const img = new Image();
  img.decoding = "async";
  img.src = url;
  return img.decode().then(() => img);
}

/**
 * Preloads URLs at most `concurrency` at a time. Decoded Image objects are
 * kept (up to `keep`) so the browser holds them in its memory cache; a
 * failed URL is forgotten and retried if it is asked for again.
 */
export function createPreloader({ concurrency = 2, keep = 16, load = loadAndDecode } = {}) {
  const entries = new Map(); // url -> Promise<Image>, insertion-ordered
  const queue = [];
  let active = 0;

  function pump() {
    while (active < concurrency && queue.length > 0) {
      const job = queue.shift();
      active += 1;
      load(job.url)
        .then(job.resolve, (error) => {
          entries.delete(job.url);
          job.reject(error);
        })
        .finally(() => {
          active -= 1;
          pump();
        });
    }
  }

  function preload(urls) {
    for (const url of urls || []) {
      if (!url || entries.has(url)) continue;
      const promise = new Promise((resolve, reject) => queue.push({ url, resolve, reject }));
      promise.catch(() => {}); // Preloading is best effort; the stimulus loader retries.
      entries.set(url, promise);
    }
    while (entries.size > keep) {
      const oldest = entries.keys().next().value;
      entries.delete(oldest);
      const queued = queue.findIndex((job) => job.url === oldest);
      if (queued >= 0) queue.splice(queued, 1);
    }
    pump();
  }

  return {
    preload,
    get active() {
      return active;
    },
    get queued() {
      return queue.length;
    },
  };
}

/**
 * Loads `url` into `img` and waits until it is decoded, retrying with
 * back-off. Calls onRetry(attempt) before each retry; rejects after
 * `attempts` failures while online so the page can show an error instead of hanging.
 */
export async function decodeWithRetry(img, url, { attempts = 6, onRetry = () => {} } = {}) {
  let failures = 0;
  for (let tries = 0; ; tries += 1) {
    img.src = url;
    try {
      await img.decode();
      return img;
    } catch (error) {
      // Failures while the browser knows it is offline do not count.
      if (navigator.onLine !== false) failures += 1;
      if (failures >= attempts) throw error;
      onRetry(tries + 1);
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(Math.min(tries, 10))));
      img.removeAttribute("src");
    }
  }
}
