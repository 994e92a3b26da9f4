// The only module that talks to the server: fetch, JSON, the bearer token,
// retry with back-off, and idempotency keys for answers. URLs come from the
// page's participant-config (architecture section 4), never from literals.

const REQUEST_TIMEOUT_MS = 20000;

export class ApiError extends Error {
  constructor(status, body) {
    super(describeDetail(body && body.detail) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || "";
  }
}

/** A server "detail" may be a string, a list or an object of field errors. */
export function describeDetail(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map(describeDetail).join(" ");
  if (typeof detail === "object") return Object.values(detail).map(describeDetail).join(" ");
  return String(detail);
}

/** Network failures (status 0), timeouts, rate limits and 5xx are transient. */
export function isTransient(status) {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/** 0.5 s doubling to 8 s, with +-20 % jitter so clients do not retry in step. */
export function backoffDelay(attempt, random = Math.random, base = 500, max = 8000) {
  const delay = Math.min(max, base * 2 ** attempt);
  return Math.min(max, Math.round(delay * (0.8 + 0.4 * random())));
}

export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** localStorage / sessionStorage that degrade to memory when blocked. */
export function safeStorage(kind) {
  const memory = new Map();
  let store = null;
  try {
    store = window[kind];
    const probe = "secondlook:probe";
    store.setItem(probe, "1");
    store.removeItem(probe);
  } catch {
    store = null;
  }
  return {
    get(key) {
      try {
        return store ? store.getItem(key) : memory.get(key) ?? null;
      } catch {
        return memory.get(key) ?? null;
      }
    },
    set(key, value) {
      memory.set(key, value);
      try {
        if (store) store.setItem(key, value);
      } catch {
        // Quota or privacy mode: the in-memory copy still serves this page.
      }
    },
    remove(key) {
      memory.delete(key);
      try {
        if (store) store.removeItem(key);
      } catch {
        // Nothing more to do.
      }
    },
  };
}

/** Waits `ms`, or less if the browser comes back online meanwhile. */
export function sleepOrOnline(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done);
  });
}

function retryAfterMs(response) {
  const value = response && response.headers.get("Retry-After");
  const seconds = value ? Number(value) : NaN;
  return Number.isFinite(seconds) ? Math.min(60000, seconds * 1000) : 0;
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

export function createApi({ urls, slug, onRetrying = () => {}, onRecovered = () => {} }) {
  const local = safeStorage("localStorage");
  const session = safeStorage("sessionStorage");
  const tokenKey = `secondlook:${slug}:token`;
  const paramsKey = `secondlook:${slug}:params`;
  const pendingKey = `secondlook:${slug}:pending`;
  const answerKey = (trialId) => `secondlook:${slug}:key:${trialId}`;

  async function attempt(method, url, body, auth) {
    const headers = { Accept: "application/json" };
    const token = local.get(tokenKey);
    if (auth && token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // Bearer only: no cookies, so an admin session in the same browser
        // never turns these calls into CSRF-checked session requests.
        credentials: "omit",
        cache: "no-store",
        signal: controller.signal,
      });
      return { response, data: await readJson(response) };
    } catch {
      return { response: null, data: null };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Retries transient failures without limit; 4xx (bar 408/429) throw ApiError. */
  async function request(method, url, { body, auth = true, label = "request" } = {}) {
    for (let tries = 0; ; tries += 1) {
      const { response, data } = await attempt(method, url, body, auth);
      const status = response ? response.status : 0;
      if (response && !isTransient(status)) {
        if (tries > 0) onRecovered({ label });
        if (response.ok) return { status, body: data };
        throw new ApiError(status, data);
      }
      const delay = Math.max(backoffDelay(Math.min(tries, 10)), retryAfterMs(response));
      onRetrying({ label, status, attempt: tries + 1, delay });
      await sleepOrOnline(delay);
    }
  }

  const trialUrl = (template, trialId) => template.replace("{trial_id}", encodeURIComponent(String(trialId)));

  async function resend({ trialId, body }) {
    const url = trialUrl(urls.response, trialId);
    try {
      const result = await request("POST", url, { body, label: "response" });
      return { ...result, alreadyAnswered: false };
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        return { status: 409, body: error.body, alreadyAnswered: true };
      }
      throw error;
    } finally {
      // Reached only once the server gave a definite answer (success or 4xx);
      // transient failures never get here because request() keeps trying.
      session.remove(pendingKey);
      session.remove(answerKey(trialId));
    }
  }

  const paramsFingerprint = (params) =>
    JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]]));

  return {
    hasToken: () => Boolean(local.get(tokenKey)),
    clearToken() {
      local.remove(tokenKey);
      session.remove(pendingKey);
    },
    /** True when this link carries different recruitment params than the stored session's. */
    paramsDiffer(params) {
      const stored = local.get(paramsKey);
      return Object.keys(params).length > 0 && stored !== null && stored !== paramsFingerprint(params);
    },

    async createSession(params) {
      const { status, body } = await request("POST", urls.sessions, {
        body: { params },
        auth: false,
        label: "session",
      });
      local.set(tokenKey, body.token);
      local.set(paramsKey, paramsFingerprint(params));
      session.remove(pendingKey);
      return { status, ...body };
    },
    getSession: async () => (await request("GET", urls.session, { label: "session" })).body,
    next: async () => (await request("GET", urls.next, { label: "next" })).body,
    withdraw: async () => (await request("POST", urls.withdraw, { body: {}, label: "withdraw" })).body,
    async consent(version, agree) {
      return (await request("POST", urls.consent, { body: { version, agree }, label: "consent" })).body;
    },

    /** The answer saved in this tab but not yet confirmed by the server, if any. */
    pendingAnswer() {
      try {
        return JSON.parse(session.get(pendingKey) || "null");
      } catch {
        return null;
      }
    },

    /**
     * Sends an answer until the server confirms it. One idempotency key per
     * trial, kept in sessionStorage with the exact body, so a retry (even
     * after a reload) is a replay the server answers with 200.
     * Resolves {status, body, alreadyAnswered}; 409 counts as saved.
     */
    async submitResponse(trialId, payload) {
      let key = session.get(answerKey(trialId));
      if (!key) {
        key = newIdempotencyKey();
        session.set(answerKey(trialId), key);
      }
      const body = { ...payload, key };
      session.set(pendingKey, JSON.stringify({ trialId, body }));
      return resend({ trialId, body });
    },

    resend,

    /**
     * Tells the server a trial cannot be shown (its images failed to load or
     * verify), so it is skipped rather than shown broken. Retries like any
     * request; 409 means the trial was already settled and counts as done.
     * Resolves the server's {trial, progress, finished}.
     */
    async reportProblem(trialId, body) {
      if (!urls.problem) throw new Error("The page has no address to report an image problem to.");
      try {
        return (await request("POST", trialUrl(urls.problem, trialId), { body, label: "problem" })).body;
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) return error.body;
        throw error;
      }
    },
  };
}
