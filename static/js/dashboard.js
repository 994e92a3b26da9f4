// Refreshes the dashboard's numbers in place: the same page is fetched again and its
// #dashboard-body replaces the current one (parsed inertly, so nothing in it runs).

const body = document.getElementById("dashboard-body");
const seconds = Number(body && body.dataset.refreshSeconds) || 15;

async function refresh() {
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("dashboard-body");
    if (fresh) body.replaceChildren(...Array.from(fresh.childNodes, (node) => document.importNode(node, true)));
  } catch {
    // Offline or the server restarting: the numbers stay as they were until the next try.
  }
}

if (body) setInterval(refresh, seconds * 1000);
