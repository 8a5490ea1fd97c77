"""Sign-up, log-in, log-out, and the OAuth consent page: one log-in page for the web app
and for apps asking for access (`/oauth/authorize` sends a browser without a session to
`/login?next=…`, then asks the signed-in person to approve)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from tessera import accounts
from tessera.core.errors import ValidationFailed
from tessera.core.params import Params, parsed
from tessera.core.ratelimit import client_ip
from tessera.core.runtime import SessionDep, runtime_of
from tessera.web import pages
from tessera.web.errors import field_error, web_router
from tessera.web.session import (
    OptionalViewer,
    Viewer,
    end_session,
    login_url,
    safe_next,
    signed_in,
    start_session,
)

router = web_router()

BAD_LOGIN = "Sorry, your username, e-mail address or password was incorrect."


class LoginForm(Params):
    login: str = ""
    password: str = ""
    next: str = "/"


class SignUpForm(Params):
    username: str = ""
    email: str = ""
    password: str = ""
    next: str = "/"


def _redirect(request: Request, target: str) -> Response:
    return pages.finish(request, RedirectResponse(target, status_code=303))


@router.get("/login")
async def login_page(request: Request, viewer: OptionalViewer, next: str = "/") -> Response:
    if viewer is not None:
        return _redirect(request, safe_next(next))
    return pages.plain_page(request, "login.html", title="Log in", next=safe_next(next))


@router.post("/login")
async def log_in(
    request: Request, db: SessionDep, form: Annotated[LoginForm, parsed(LoginForm)]
) -> Response:
    runtime = runtime_of(request)
    token = await accounts.log_in(
        db,
        runtime.limiter,
        client_ip(request.scope, runtime.settings),
        form.login,
        form.password,
        runtime.settings.token_lifetime,
    )
    if token is None:
        return pages.plain_page(
            request,
            "login.html",
            title="Log in",
            status=401,
            error=BAD_LOGIN,
            login=form.login,
            next=safe_next(form.next),
        )
    response = _redirect(request, safe_next(form.next))
    start_session(request, response, token)
    return response


@router.get("/signup")
async def sign_up_page(request: Request, viewer: OptionalViewer, next: str = "/") -> Response:
    if viewer is not None:
        return _redirect(request, safe_next(next))
    return pages.plain_page(
        request,
        "signup.html",
        title="Sign up",
        next=safe_next(next),
        open=runtime_of(request).settings.registrations_open,
        errors={},
    )


@router.post("/signup")
async def sign_up(
    request: Request, db: SessionDep, form: Annotated[SignUpForm, parsed(SignUpForm)]
) -> Response:
    runtime = runtime_of(request)
    try:
        token = await accounts.sign_up(
            db,
            runtime.settings,
            runtime.limiter,
            client_ip(request.scope, runtime.settings),
            username=form.username,
            email=form.email,
            password=form.password,
            agreement=True,  # the form says that signing up accepts the server's rules
        )
    except ValidationFailed as failed:
        errors = {
            field: field_error(field, items[0]["description"])
            for field, items in (failed.details or {}).items()
        }
        return pages.plain_page(
            request,
            "signup.html",
            title="Sign up",
            status=422,
            next=safe_next(form.next),
            open=True,
            errors=errors,
            form=form,
        )
    response = _redirect(request, safe_next(form.next))
    start_session(request, response, token)
    return response


@router.post("/logout")
async def log_out(request: Request, db: SessionDep, viewer: OptionalViewer) -> Response:
    if viewer is not None:
        await accounts.log_out(db, viewer.token)
    response = _redirect(request, "/login")
    end_session(request, response)
    return response


# -- OAuth 2: the consent page ---------------------------------------------------------


class AuthorizeQuery(Params):
    response_type: str = ""
    client_id: str = ""
    redirect_uri: str = ""
    scope: str | None = None
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None


class AuthorizeForm(AuthorizeQuery):
    decision: str = ""


async def _checked(db: SessionDep, query: AuthorizeQuery) -> accounts.AuthorizationRequest:
    return await accounts.check_authorization_request(
        db,
        response_type=query.response_type,
        client_id=query.client_id,
        redirect_uri=query.redirect_uri,
        scope=query.scope,
        state=query.state,
        code_challenge=query.code_challenge,
        code_challenge_method=query.code_challenge_method,
    )


@router.get("/oauth/authorize")
async def authorize_page(
    request: Request,
    db: SessionDep,
    viewer: OptionalViewer,
    query: Annotated[AuthorizeQuery, parsed(AuthorizeQuery)],
) -> Response:
    """A bad request is refused at once (and never redirected); a good one first needs
    a session, then the person's consent."""
    asked = await _checked(db, query)
    if viewer is None:
        return _redirect(request, login_url(f"{request.url.path}?{request.url.query}"))
    return await pages.page(
        request,
        db,
        viewer,
        "consent.html",
        title=f"Authorize {asked.app_name}",
        form_action=False,
        asked=asked,
        query=query,
    )


@router.post("/oauth/authorize")
async def authorize(
    request: Request,
    db: SessionDep,
    viewer: Annotated[Viewer, signed_in()],
    form: Annotated[AuthorizeForm, parsed(AuthorizeForm)],
) -> Response:
    asked = await _checked(db, form)
    state = {"state": asked.state} if asked.state else {}
    if form.decision != "approve":
        if asked.redirect_uri == accounts.OOB_URI:
            return await pages.page(
                request, db, viewer, "oauth_done.html", title="Authorization denied", code=None
            )
        return _answer(request, asked.redirect_uri, {"error": "access_denied", **state})
    code = await accounts.grant_code(db, asked, viewer.account_id)
    if asked.redirect_uri == accounts.OOB_URI:
        return await pages.page(
            request, db, viewer, "oauth_done.html", title="Authorization code", code=code
        )
    return _answer(request, asked.redirect_uri, {"code": code, **state})


def _answer(request: Request, redirect_uri: str, params: dict[str, str]) -> Response:
    """Back to the app, at the address it registered."""
    separator = "&" if "?" in redirect_uri else "?"
    response = RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=303)
    return pages.finish(request, response, form_action=False)
