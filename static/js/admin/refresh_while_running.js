// Keeps the admin's view of background work current: while an element marked
// data-refresh-while-running="true" is on the page (an upload being imported, a classifier
// being registered), the same page is fetched again and each such element's content is
// replaced by the fresh one (parsed inertly, so nothing in it runs). Only those elements
// change, so a form being filled in elsewhere on the page keeps what was typed. Polling
// stops once every element says its work has finished.

const SECONDS = 2;

function running() {
  return Array.from(document.querySelectorAll('[data-refresh-while-running="true"]'));
}

async function refresh() {
  const watched = running();
  if (!watched.length) return;
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
    if (response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const element of watched) {
        const fresh = page.getElementById(element.id);
        if (!fresh) continue;
        element.replaceChildren(...Array.from(fresh.childNodes, (node) => document.importNode(node, true)));
        element.dataset.refreshWhileRunning = fresh.dataset.refreshWhileRunning;
      }
    }
  } catch {
    // Offline or the server restarting: the page stays as it was until the next try.
  }
  if (running().length) setTimeout(refresh, SECONDS * 1000);
}

if (running().length) setTimeout(refresh, SECONDS * 1000);
