"""Participant API (contract v1, architecture.md §4) and researcher endpoints.

Thin glue: validate the request shape, call a service, shape the reply."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.api import serializers as s
from studies.api.auth import CanReadStudyData, IsParticipant, ParticipantTokenAuthentication
from studies.api.parsers import JSONParser
from studies.api.throttles import ParticipantThrottle, SessionThrottle
from studies.services import access, export, sessions, trials
from studies.services import status as study_status

# The 4xx replies an endpoint can give, all with the one error body of studies/api/errors.py.
# Listed in the schema so that clients can rely on them (tests/api/test_schema_fuzzing.py
# holds the server to it).
ERRORS = {
    400: "Malformed or invalid request: `errors` names the fields at fault.",
    401: "No participant token, or an unknown or replaced one.",
    404: "No such study, or no such trial in this session.",
    409: "Not possible in the current state (`code` says why), e.g. an ended session.",
    429: "Over the study's rate limit (studies/api/throttles.py); Retry-After says when to try again.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(s.Error, description=ERRORS[code]) for code in statuses}


# What Django's `slug` and `int` path converters match (urls.py): any other value misses the
# route, so the schema must not call it valid.
STUDY_SLUG = OpenApiParameter(
    "slug", {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}, OpenApiParameter.PATH
)
TRIAL_ID = OpenApiParameter("trial_id", {"type": "integer", "minimum": 0}, OpenApiParameter.PATH)


class ParticipantView(APIView):
    authentication_classes = [ParticipantTokenAuthentication]
    permission_classes = [IsParticipant]
    parser_classes = [JSONParser]
    throttle_classes = [ParticipantThrottle]


class SessionCreate(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]
    throttle_classes = [SessionThrottle]

    @extend_schema(
        request=s.SessionRequest,
        parameters=[STUDY_SLUG],
        responses={200: s.SessionCreated, 201: s.SessionCreated, **errors(400, 404, 409, 429)},
    )
    def post(self, request, slug: str):
        body = s.SessionRequest(data=request.data)
        body.is_valid(raise_exception=True)
        entry = sessions.enter(slug, body.validated_data["params"])
        participant = entry.participant
        return Response(
            {
                "token": entry.token,
                "participant": participant.pseudonym,
                "state": sessions.state(participant),
                "progress": trials.progress(participant),
            },
            status=status.HTTP_201_CREATED if entry.created else status.HTTP_200_OK,
        )


class SessionDetail(ParticipantView):
    @extend_schema(responses={200: s.SessionState, **errors(401, 429)})
    def get(self, request):
        return Response(sessions.describe(request.auth))


class Consent(ParticipantView):
    @extend_schema(request=s.ConsentRequest, responses={200: s.StateReply, **errors(400, 401, 409, 429)})
    def post(self, request):
        body = s.ConsentRequest(data=request.data)
        body.is_valid(raise_exception=True)
        participant = sessions.give_consent(request.auth, **body.validated_data)
        return Response({"state": sessions.state(participant), "progress": trials.progress(participant)})


class NextTrial(ParticipantView):
    @extend_schema(responses={200: s.NextReply, **errors(401, 429)})
    def get(self, request):
        participant = request.auth
        trial, upcoming, progress = trials.next_trial(participant)
        reply = {"trial": trial, "progress": progress}
        if trial is None:
            participant.refresh_from_db()
            reply["completion"] = sessions.completion(participant)
        else:
            reply["upcoming"] = upcoming
        return Response(reply)


class TrialResponse(ParticipantView):
    @extend_schema(
        request=s.ResponseRequest,
        parameters=[TRIAL_ID],
        responses={200: s.Receipt, 201: s.Receipt, **errors(400, 401, 404, 409, 429)},
    )
    def post(self, request, trial_id: int):
        body = s.ResponseRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        receipt, created = trials.record_response(
            request.auth,
            trial_id,
            answer=data["answer"],
            rt_ms=round(data["rt_ms"]),
            client=data["client"],
            key=data["key"],
        )
        return Response(receipt, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class TrialProblem(ParticipantView):
    @extend_schema(
        request=s.ProblemRequest,
        parameters=[TRIAL_ID],
        responses={200: s.ProblemReceipt, 201: s.ProblemReceipt, **errors(400, 401, 404, 409, 429)},
    )
    def post(self, request, trial_id: int):
        body = s.ProblemRequest(data=request.data)
        body.is_valid(raise_exception=True)
        receipt, created = trials.report_problem(request.auth, trial_id, **body.validated_data)
        return Response(receipt, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class Withdraw(ParticipantView):
    @extend_schema(request=None, responses={200: s.StateReply, **errors(401, 429)})
    def post(self, request):
        participant = sessions.withdraw(request.auth)
        return Response(
            {"state": sessions.state(participant), "completion": sessions.completion(participant)}
        )


INCLUDE_PARAMETERS = [
    OpenApiParameter("practice", bool, description="Include practice answers (not data)."),
    OpenApiParameter("pilot", bool, description="Include pilot and preview participants."),
    OpenApiParameter("excluded", bool, description="Include participants an exclusion rule flagged."),
]


def _included(request) -> export.Included:
    flag = {
        name: request.query_params.get(name, "") in ("1", "true")
        for name in ("practice", "pilot", "excluded")
    }
    return export.Included(**flag)


class CSVRenderer(BaseRenderer):
    """Lets content negotiation accept text/csv (and text/*, */*) for the tables. It renders
    nothing: a table streams its own response (export.csv_response)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise TypeError("A table export streams its own response; errors are rendered as JSON.")


class TableExport(APIView):
    """A study's table as CSV, streamed (staff with the view_response permission)."""

    permission_classes = [CanReadStudyData]
    renderer_classes = [CSVRenderer]
    table = ""

    def finalize_response(self, request, response, *args, **kwargs):
        # Refusals (403, 404, 406) are the API's JSON error whatever Accept asked for:
        # scripts and the dashboard read their `detail`, and a CSV of an error is no table.
        if isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def get(self, request, slug: str):
        study = access.study_for(request.user, slug)
        _, rows = export.recorded_rows(study, self.table, _included(request), by=request.user.get_username())
        return export.csv_response(rows, f"{study.slug}-{self.table}.csv")


class ResponsesExport(TableExport):
    table = "responses"

    @extend_schema(
        parameters=INCLUDE_PARAMETERS,
        responses={(200, "text/csv"): OpenApiResponse(description="One row per answered trial.")},
    )
    def get(self, request, slug: str):
        return super().get(request, slug)


class ParticipantsExport(TableExport):
    table = "participants"

    @extend_schema(
        parameters=INCLUDE_PARAMETERS,
        responses={(200, "text/csv"): OpenApiResponse(description="One row per participant.")},
    )
    def get(self, request, slug: str):
        return super().get(request, slug)


class ItemsExport(TableExport):
    table = "items"

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(description="One row per item of every version.")}
    )
    def get(self, request, slug: str):
        return super().get(request, slug)


class Codebook(APIView):
    permission_classes = [CanReadStudyData]

    @extend_schema(responses=inline_serializer("Codebook", {"tables": serializers.DictField()}))
    def get(self, request, slug: str):
        study = access.study_for(request.user, slug)
        # A file to keep beside the tables, not a page: browsers download it as they do them.
        disposition = f'attachment; filename="{study.slug}-codebook.json"'
        return Response(export.codebook(study), headers={"Content-Disposition": disposition})


class StudyStatus(APIView):
    permission_classes = [CanReadStudyData]

    @extend_schema(responses=inline_serializer("StudyStatus", {"study": serializers.DictField()}))
    def get(self, request, slug: str):
        return Response(study_status.summary(access.study_for(request.user, slug)))
