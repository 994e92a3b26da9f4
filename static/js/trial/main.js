// Entry point of the participant page: reads #participant-config, opens or
// resumes the session and drives the state machine through the screens.

import { ApiError, createApi, describeDetail } from "./api.js";
import { createPreloader, decodeWithRetry } from "./preload.js";
import * as ui from "./render.js";
import { createMachine, screenForSession } from "./state.js";
import { showStimulus } from "./timing.js";

const SAVING_STATUS = "Reconnecting… your answer is safe and will be sent";
const RETRY_STATUS = "Reconnecting…";
const REDIRECT_DELAY_MS = 3000;

// One renderer per trial kind; kinds not listed here end in a clear error.
const RENDERERS = { topk_select: ui.topkSelectScreen };

function readConfig() {
  const node = document.getElementById("participant-config");
  const config = node ? JSON.parse(node.textContent) : null;
  if (!config || !config.slug || !config.urls) throw new Error("The page is missing its configuration.");
  return config;
}

function queryParams() {
  return Object.fromEntries(new URLSearchParams(window.location.search));
}

function withDetail(text, error) {
  const detail = describeDetail(error.body && error.body.detail);
  return detail ? `${text} (${detail})` : text;
}

/** Turns a failure into words for #error-message; never leaves a blank page. */
function describeError(error, phase) {
  const reload = () => window.location.reload();
  if (!(error instanceof ApiError)) {
    return { message: "Something went wrong on this page. Please try again; answers already saved are kept.", onAction: reload };
  }
  if (error.code === "mturk_preview") {
    return { title: "Preview", message: "This is a preview of the task. Accept the HIT to start." };
  }
  if (error.code === "study_not_live") {
    return { title: "This study is not open", message: withDetail("This study is not accepting participants at the moment.", error) };
  }
  if (phase === "session" && error.status === 404) {
    return { title: "Study not found", message: "This study link is not valid. Please check that you opened the full link you were given." };
  }
  if (phase === "session" && error.status === 400) {
    return {
      title: "This link is incomplete",
      message: withDetail("Please open the study again from the site that sent you here.", error),
    };
  }
  if (error.status === 401) {
    return { title: "Your session has ended", message: "This session is no longer valid.", action: "Start again", onAction: "restart" };
  }
  return { message: withDetail("The server could not handle this request.", error), onAction: reload };
}

function run() {
  let config;
  try {
    config = readConfig();
  } catch (error) {
    ui.mount(ui.errorScreen(error.message).screen);
    return;
  }
  const machine = createMachine("loading");
  const api = createApi({
    urls: config.urls,
    slug: config.slug,
    onRetrying: ({ label }) => ui.setConnectionStatus(label === "response" ? SAVING_STATUS : RETRY_STATUS),
    onRecovered: () => ui.setConnectionStatus(null),
  });
  const preloader = createPreloader({ concurrency: 2 });
  let session = null;
  let trial = null;
  let view = null;
  let clock = null;

  function fail(error, phase) {
    if (!machine.can("error")) return;
    machine.go("error");
    console.error(error); // Kept so a researcher piloting the study can see the cause.
    const info = describeError(error, phase);
    const onAction =
      info.onAction === "restart"
        ? () => {
            api.clearToken();
            window.location.reload();
          }
        : info.onAction;
    ui.setConnectionStatus(null);
    ui.setProgress(null, false);
    ui.mount(ui.errorScreen(info.message, { title: info.title, actionLabel: onAction ? info.action || "Try again" : "", onAction }).screen);
  }
  const guard = (fn) => (...args) => fn(...args).catch((error) => fail(error));

  async function openSession() {
    const params = queryParams();
    if (api.hasToken() && !api.paramsDiffer(params)) {
      try {
        return await api.getSession();
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 401) throw error;
        api.clearToken();
      }
    }
    try {
      await api.createSession(params);
    } catch (error) {
      error.phase = "session";
      throw error;
    }
    return api.getSession();
  }

  /** Sends an answer left unconfirmed by a reload; true if one was sent. */
  async function resendPending() {
    const pending = api.pendingAnswer();
    if (!pending) return false;
    try {
      await api.resend(pending);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
    }
    ui.setConnectionStatus(null);
    return true;
  }

  function route(target) {
    if (target === "consent") return showConsent();
    if (target === "instructions") return showInstructions();
    if (target === "next") return goNext();
    if (target === "done") return finish(session.completion, session.state);
    throw new Error(`Unknown session state "${session.state}".`);
  }

  function showConsent() {
    machine.go("consent");
    const view = ui.consentScreen(session.consent, {
      onAgree: guard(() => answerConsent(true)),
      onDecline: guard(() => answerConsent(false)),
    });
    async function answerConsent(agree) {
      view.setBusy(true);
      const result = await api.consent(session.consent && session.consent.version, agree);
      session = { ...session, ...result };
      const target = screenForSession(session);
      if (target === "done") return finish(null, agree ? session.state : "no_consent");
      return route(target);
    }
    ui.mount(view.screen);
  }

  function showInstructions() {
    machine.go("instructions");
    const instructions = { html: session.instructions_html, text: session.instructions };
    ui.mount(ui.instructionsScreen(instructions, { onStart: guard(goNext) }).screen);
  }

  async function goNext() {
    machine.go("next");
    const body = await api.next();
    if (!body.trial) return finish(body.completion, "completed");
    ui.setProgress(body.progress);
    return showTrial(body.trial, body.upcoming);
  }

  async function showTrial(next, upcoming) {
    const render = RENDERERS[next.kind];
    if (!render) throw new Error(`Unsupported trial kind "${next.kind}".`);
    trial = next;
    view = render(trial, { onSubmit: guard(submit), onWithdraw: guard(withdraw) });
    view.setEnabled(false);
    ui.mount(view.screen);
    let retried = false;
    await decodeWithRetry(view.img, trial.image.url, {
      onRetry: () => {
        retried = true;
        ui.setConnectionStatus(RETRY_STATUS);
      },
    });
    if (retried) ui.setConnectionStatus(null);
    clock = await showStimulus(view.img, () => view.reveal());
    machine.go("stimulus");
    view.setEnabled(true);
    preloader.preload(upcoming);
  }

  async function submit(input) {
    if (machine.state !== "stimulus") return;
    const timing = clock.stop();
    const img = view.img;
    const payload = {
      answer: { selected: view.selected() },
      rt_ms: timing.rt_ms,
      client: {
        dpr: window.devicePixelRatio || 1,
        viewport: [window.innerWidth, window.innerHeight],
        displayed: [img.clientWidth, img.clientHeight],
        input,
        hidden_ms: timing.hidden_ms,
        hidden_count: timing.hidden_count,
      },
    };
    machine.go("saving");
    view.setEnabled(false);
    view.setSaving(true);
    // Resolves only once the server has the answer (or already had one: 409).
    const result = await api.submitResponse(trial.id, payload);
    ui.setConnectionStatus(null);
    if (result.body && result.body.progress) ui.setProgress(result.body.progress);
    return goNext();
  }

  async function withdraw() {
    if (machine.state !== "stimulus") return;
    clock.stop();
    machine.go("withdrawing");
    view.setEnabled(false);
    const body = await api.withdraw();
    return finish(body && body.completion, "withdrawn");
  }

  /** The server's completion, from `next` when not given; null if it has none. */
  async function fetchCompletion() {
    try {
      const body = await api.next();
      return body.trial ? null : body.completion || null;
    } catch (error) {
      if (error instanceof ApiError) return null;
      throw error;
    }
  }

  async function finish(completion, fallbackOutcome) {
    const known = completion || (await fetchCompletion()) || { outcome: fallbackOutcome, code: "", redirect_url: "" };
    machine.go("done");
    ui.setConnectionStatus(null);
    ui.setProgress(null, false);
    const done = ui.completionScreen(known);
    ui.mount(done.screen);
    if (done.redirect) setTimeout(() => window.location.assign(done.redirect), REDIRECT_DELAY_MS);
  }

  document.addEventListener("keydown", (event) => {
    if (machine.state !== "stimulus" || !view || view.withdrawOpen()) return;
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.key === "Enter") {
      // Focused buttons and links handle Enter themselves.
      if (event.target.closest && event.target.closest("button, a")) return;
      event.preventDefault();
      if (!event.repeat) view.submitByKey();
    } else if (/^[1-9]$/.test(event.key) && !event.repeat) {
      event.preventDefault();
      view.toggle(Number(event.key));
    }
  });

  (async () => {
    try {
      session = await openSession();
    } catch (error) {
      return fail(error, error.phase);
    }
    const resent = await resendPending();
    const target = screenForSession(session);
    return route(resent && target === "instructions" ? "next" : target);
  })().catch((error) => fail(error));
}

run();
