"""The login form for token mode: the shared token (or a user's own, tokens.py) in, a signed session
cookie for its holder out. Logout revokes the session on the server (auth.py, sessions.py), so a
copy of the cookie stops working too, then clears it, and sends the person to `logout_url` (the
identity provider's logout) when the settings name one. Local and proxy modes have no login: the
form sends them home."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from webview import csrf
from webview.auth import SESSION_COOKIE, SESSION_MAX_AGE, safe_next, session_cookie_of
from webview.context import Web, form_text


class Login:
    def __init__(self, web: Web) -> None:
        self.web = web

    async def login_form(self, request: Request) -> Response:
        if self.web.auth.mode != "token":
            return RedirectResponse("/", status_code=303)
        return self.web.render(
            request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": ""}
        )

    async def login(self, request: Request) -> Response:
        if self.web.auth.mode != "token":
            return RedirectResponse("/", status_code=303)
        form = await request.form(max_files=0, max_fields=10)
        self.web.check_form(request, form.get(csrf.FIELD))
        target = safe_next(form_text(form, "next"))
        holder = self.web.auth.token_user(form_text(form, "token").strip())
        if holder is None:
            await asyncio.sleep(0.5)  # slows guessing; the token itself should be long
            return self.web.render(
                request, "login.html", {"next": target, "error": "That token is not right."}, status_code=401
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.web.auth.session_cookie(holder),
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        self.web.check_form(request, form.get(csrf.FIELD))
        raw = session_cookie_of(request.headers)
        if raw:
            self.web.auth.end_session(raw)
        home = "/login" if self.web.auth.mode == "token" else "/"
        response = RedirectResponse(self.web.settings.logout_url or home, status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response
