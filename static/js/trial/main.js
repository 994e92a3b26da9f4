// Entry point of the participant page: reads #participant-config, opens or
// resumes the session and drives the state machine through the screens.

import { ApiError, createApi, describeDetail } from "./api.js";
import * as kinds from "./kinds.js";
import { createImageStore, ImageError, loadTrialImages } from "./preload.js";
import * as ui from "./render.js";
import { trialScreen, withdrawBlock } from "./screen.js";
import { createMachine, screenForSession } from "./state.js";
import { showStimulus } from "./timing.js";

const SAVING_STATUS = "Reconnecting… your answer is safe and will be sent";
const RETRY_STATUS = "Reconnecting…";
const SKIPPED_NOTICE = "One image could not be loaded; it has been skipped.";
const NOTICE_MS = 8000;
const PROBLEM_DETAIL_CHARS = 200; // the server's limit on a problem report's detail
const REDIRECT_DELAY_MS = 3000;

// One answer builder per trial kind; kinds not listed here end in a clear error.
const RENDERERS = {
  topk_select: kinds.topkSelect,
  label_check: kinds.singleChoice,
  forced_choice: kinds.singleChoice,
  manipulation_check: kinds.singleChoice,
  attention: kinds.singleChoice,
};

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
  const images = createImageStore({ concurrency: 2 });
  let session = null;
  let trial = null;
  let view = null;
  let clock = null;
  let imagesChecked = false;
  // Revokes the object URLs of the trial on screen; called once its screen is replaced.
  let releaseImages = () => {};

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
    ui.setProgress(null, { visible: false });
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
    const shown = ui.instructionsScreen(instructions, { onStart: guard(goNext) });
    // Consent given can be withdrawn at any time, before the first trial too.
    shown.screen.append(withdrawBlock(guard(withdraw)).node);
    ui.mount(shown.screen);
  }

  async function goNext() {
    machine.go("next");
    const body = await api.next();
    if (!body.trial) return finish(body.completion, "completed");
    ui.setProgress(body.progress, { practice: Boolean(body.trial.practice) });
    return showTrial(body.trial, body.upcoming);
  }

  function mountTrial(next) {
    const makeAnswer = RENDERERS[next.kind];
    if (!makeAnswer) throw new Error(`Unsupported trial kind "${next.kind}".`);
    const shown = trialScreen(next, makeAnswer, { onSubmit: guard(submit), onWithdraw: guard(withdraw) });
    shown.setEnabled(false);
    ui.mount(shown.screen);
    // Sized once in the page, where the room for the images can be measured.
    shown.fit();
    releaseImages();
    releaseImages = () => {};
    trial = next;
    view = shown;
  }

  async function showTrial(next, upcoming) {
    mountTrial(next);
    let retried = false;
    const loading = loadTrialImages(images, view.images, {
      onRetry: () => {
        retried = true;
        ui.setConnectionStatus(RETRY_STATUS);
      },
    });
    // Queued behind this trial's images, which have already jumped the queue.
    images.preload(upcoming);
    let loaded;
    try {
      loaded = await loading;
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      return skipTrial(error);
    }
    releaseImages = loaded.release;
    imagesChecked = loaded.checked;
    if (retried) ui.setConnectionStatus(null);
    clock = await showStimulus(view.img, () => view.reveal());
    view.start(clock.start);
    machine.go("stimulus");
    view.setEnabled(true);
  }

  /** A trial whose images stayed unavailable is reported, never shown broken; the server skips it. */
  async function skipTrial(error) {
    machine.go("reporting");
    console.warn(error.message); // For a researcher piloting the study.
    await api.reportProblem(trial.id, { reason: error.reason, detail: error.message.slice(0, PROBLEM_DETAIL_CHARS) });
    ui.showNotice(SKIPPED_NOTICE, NOTICE_MS);
    return goNext();
  }

  async function submit(input) {
    if (machine.state !== "stimulus") return;
    const timing = clock.stop();
    const payload = {
      answer: view.answer(),
      rt_ms: timing.rt_ms,
      client: {
        dpr: window.devicePixelRatio || 1,
        viewport: [window.innerWidth, window.innerHeight],
        ...view.measure(),
        sha256_checked: imagesChecked,
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
    if (result.body && result.body.progress) ui.setProgress(result.body.progress, { practice: Boolean(trial.practice) });
    const feedback = trial.practice && result.body && result.body.feedback;
    if (!feedback) return goNext();
    machine.go("feedback");
    view.setSaving(false);
    view.showFeedback(feedback, guard(goNext));
  }

  async function withdraw() {
    if (machine.state !== "stimulus" && machine.state !== "instructions") return;
    if (machine.state === "stimulus") {
      clock.stop();
      view.setEnabled(false);
    }
    machine.go("withdrawing");
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
    ui.setProgress(null, { visible: false });
    const done = ui.completionScreen(known);
    ui.mount(done.screen);
    releaseImages();
    if (done.redirect) setTimeout(() => window.location.assign(done.redirect), REDIRECT_DELAY_MS);
  }

  // A turned phone or resized window gets the scale that fits it now.
  window.addEventListener("resize", () => {
    if (view) view.fit();
  });

  document.addEventListener("keydown", (event) => {
    if (!view || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    // Focused buttons and links handle Enter themselves.
    const onButton = Boolean(event.target.closest && event.target.closest("button, a"));
    if (machine.state === "feedback" && event.key === "Enter") {
      // A held Enter that submitted the answer must not also skip the feedback
      // (focus is on Continue by the time the key repeats).
      if (event.repeat || !onButton) event.preventDefault();
      if (!event.repeat && !onButton) view.continueByKey();
      return;
    }
    if (machine.state !== "stimulus" || view.withdrawOpen()) return;
    if (event.key === "Enter") {
      if (onButton) return;
      event.preventDefault();
      if (!event.repeat) view.submitByKey();
    } else if (!event.repeat && view.handleKey(event.key)) {
      event.preventDefault();
    }
  });

  (async () => {
    try {
      session = await openSession();
    } catch (error) {
      return fail(error, error.phase);
    }
    ui.setPreview(session.preview === true);
    const resent = await resendPending();
    const target = screenForSession(session);
    return route(resent && target === "instructions" ? "next" : target);
  })().catch((error) => fail(error));
}

run();
