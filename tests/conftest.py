import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def live_study(db, tmp_path):
    return factories.study(tmp_path)


class ParticipantClient:
    """A participant's view of the API: the token once a session exists."""

    def __init__(self, client: APIClient, slug: str):
        self.client, self.slug, self.token = client, slug, None

    def _auth(self):
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def enter(self, params=None):
        reply = self.client.post(
            f"/api/v1/studies/{self.slug}/sessions", {"params": params or {}}, format="json"
        )
        if reply.status_code in (200, 201):
            self.token = reply.json()["token"]
        return reply

    def get(self, path):
        return self.client.get(f"/api/v1/{path}", **self._auth())

    def post(self, path, body=None):
        return self.client.post(f"/api/v1/{path}", body, format="json", **self._auth())

    def consent(self, agree=True, version=1):
        return self.post("session/consent", {"version": version, "agree": agree})

    def next(self):
        return self.get("session/next")

    def answer(self, trial, selected=None, key=None, rt_ms=850):
        selected = selected if selected is not None else [trial["options"][0]["id"]]
        return self.respond(trial, {"selected": selected}, key=key, rt_ms=rt_ms)

    def respond(self, trial, answer, key=None, rt_ms=850, client=None):
        """Send any answer body for a trial."""
        key = key or f"key-{trial['id']:012d}-abcdef"
        return self.post(
            f"session/trials/{trial['id']}/response",
            {"answer": answer, "rt_ms": rt_ms, "client": client or {"dpr": 1}, "key": key},
        )

    def valid_answer(self, trial):
        """The first option, in the shape the trial's kind takes."""
        first = trial["options"][0]["id"]
        if trial["kind"] == "topk_select":
            return {"selected": [first]}
        return {"choice": first, "confidence": 4} if trial["confidence"] else {"choice": first}

    def complete(self):
        """Answer every trial; returns the final `next` reply."""
        while True:
            reply = self.next().json()
            if reply["trial"] is None:
                return reply
            assert self.respond(reply["trial"], self.valid_answer(reply["trial"])).status_code == 201


@pytest.fixture
def participant(live_study):
    return ParticipantClient(APIClient(), live_study.slug)
