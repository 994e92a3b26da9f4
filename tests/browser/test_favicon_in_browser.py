"""The site's icon in a real browser against the demo's server (issue 15): the icons that
pages link and /favicon.ico, which browsers ask for by themselves, are images, not 404s."""

import pytest

pytestmark = pytest.mark.browser


def test_the_linked_icons_and_favicon_ico_load(demo, browser):
    context = browser.new_context()
    page = context.new_page()
    failed = []
    page.on("response", lambda reply: reply.status >= 400 and failed.append(reply.url))
    page.goto(f"{demo['base']}/s/demo-topk/")
    page.wait_for_selector("#consent-agree")
    links = page.eval_on_selector_all('link[rel="icon"]', "links => links.map((link) => link.href)")
    assert len(links) == 2
    for url in [*links, f"{demo['base']}/favicon.ico"]:
        reply = context.request.get(url)  # follows the redirect of /favicon.ico
        assert reply.status == 200, url
        assert reply.headers["content-type"].startswith("image/"), url
    assert failed == []
    context.close()
