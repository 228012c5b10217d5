"""Client and server errors as JSON: `{"detail": [{"loc", "msg", "type"}]}` like FastAPI's 422.

A client's mistake is a 4xx naming the field and the rule (validation_errors.py
words pydantic's); anything unexpected is a 500 whose body says only that, with
the request id to find the logged stack trace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Loc = Sequence[str | int]


class ApiError(Exception):
    """A request the API refuses, with the HTTP status and where the problem is.

    `items`, when given, is the whole detail list (a 422 with several problems) and
    takes the place of the one item made of `loc`, `msg` and `kind`.
    """

    def __init__(self, status: int, loc: Loc, msg: str, kind: str,
                 items: list[dict[str, object]] | None = None) -> None:
        super().__init__(msg)
        self.status, self.msg = status, msg
        self.items = items or [{"loc": list(loc), "msg": msg, "type": kind}]

    def response(self) -> Response:
        if self.status >= 500:  # not the client's doing: a plain message, no field
            return JSONResponse({"detail": self.msg}, self.status)
        return JSONResponse({"detail": self.items}, self.status)


def internal_error_response(request_id: str | None) -> Response:
    detail: dict[str, object] = {"detail": "Internal server error"}
    if request_id:
        detail["request_id"] = request_id
    return JSONResponse(detail, 500)


class UnexpectedErrorMiddleware:
    """Any exception a route lets escape becomes a logged 500 whose body holds no trace.

    Starlette's catch-all handler answers and then re-raises, and Mangum logs
    the exception a second time, unstructured; this stops it here.
    """

    def __init__(self, app: ASGIApp, on_error: Callable[[Scope], None]) -> None:
        self.app, self.on_error = app, on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            self.on_error(scope)
            if started:
                raise
            context = scope.get("aws.context")
            response = internal_error_response(getattr(context, "aws_request_id", None))
            await response(scope, receive, send)
