"""Signing up, logging in and out through the web pages; the session cookie; CSRF; the
budgets the web shares with the API."""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie

import httpx

from tests.accounts.helpers import app_of, csrf_of, me, sibling, unique_ip, unique_prefix
from tests.conftest import AppFactory, Backend, MakeUser, unique_name
from tests.posts.helpers import publish
from tests.web.helpers import PAGE, SCRIPT, browser_of, submit, text_of, token

SESSION = "tessera_session"


def _cookie(response: httpx.Response, name: str) -> dict[str, str | bool]:
    """The attributes of the cookie `name` the answer sets (names lower-cased)."""
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            morsel = jar[name]
            flags: dict[str, str | bool] = {"value": morsel.value}
            flags.update({key: value for key, value in morsel.items() if value})
            return flags
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def _person() -> dict[str, str]:
    username = unique_name("web")
    return {
        "username": username,
        "email": f"{username}@example.org",
        "password": f"pw-{secrets.token_hex(8)}",
    }


async def test_sign_up_logs_in_and_the_home_page_tells_a_newcomer_what_to_do(
    client: httpx.AsyncClient,
) -> None:
    person = _person()
    async with sibling(client) as browser:
        signed_up = await submit(browser, "/signup", "/signup", person)
        assert signed_up.status_code == 303
        assert signed_up.headers["location"] == "/"
        cookie = _cookie(signed_up, SESSION)
        assert cookie["httponly"] is True
        assert str(cookie["samesite"]).lower() == "lax"
        assert "secure" not in cookie  # plain http here
        assert cookie["path"] == "/"
        # The cookie holds an access token like any other: the API takes it too.
        assert (await me(client, str(cookie["value"]))).json()["username"] == person["username"]

        home = await browser.get("/", headers=PAGE)
    assert home.status_code == 200
    assert "<title>Home • Tessera</title>" in home.text
    words = text_of(home.text)
    assert "Follow people or share your first photo" in words
    assert 'href="/new"' in home.text


async def test_sign_up_names_each_mistake_on_the_form(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    taken = await make_user("taken")
    async with sibling(client) as browser:
        refused = await submit(
            browser,
            "/signup",
            "/signup",
            {"username": taken.username, "email": "not-an-address", "password": "short"},
        )
        assert refused.status_code == 422
        words = text_of(refused.text)
        assert "Username is already taken." in words
        assert "E-mail address is invalid." in words
        assert "Password is too short" in words
        assert SESSION not in browser.cookies
        # What was typed stays in the form.
        assert f'value="{taken.username}"' in refused.text


async def test_log_in_by_username_or_email_then_log_out_revokes_the_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("login")
    async with sibling(client) as browser:
        page = await browser.get("/login", headers=PAGE)
        assert "<title>Log in • Tessera</title>" in page.text
        wrong = await submit(
            browser, "/login", "/login", {"login": user.username, "password": "nope-nope"}
        )
        assert wrong.status_code == 401
        assert "incorrect" in text_of(wrong.text)
        assert SESSION not in browser.cookies

        by_email = await submit(
            browser,
            "/login",
            "/login",
            {"login": user.email.upper(), "password": user.password, "next": f"/@{user.username}"},
        )
        assert by_email.status_code == 303
        assert by_email.headers["location"] == f"/@{user.username}"
        session_token = browser.cookies[SESSION]
        profile = await browser.get(f"/@{user.username}", headers=PAGE)
        assert 'action="/logout"' in profile.text

        logged_out = await submit(browser, f"/@{user.username}", "/logout")
        assert logged_out.status_code == 303
        assert logged_out.headers["location"] == "/login"
        assert SESSION not in browser.cookies
        # The token is revoked, not only forgotten by this browser.
        assert (await me(client, session_token)).status_code == 401
        assert (await browser.get("/", headers=PAGE)).headers["location"] == "/login?next=/"


async def test_a_session_whose_token_was_revoked_is_dropped(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("revoked")
    async with browser_of(client, user) as browser, sibling(client) as copy:
        copy.cookies.set(SESSION, browser.cookies[SESSION])
        assert (await copy.get("/", headers=PAGE)).status_code == 200
        await submit(browser, "/", "/logout")
        answer = await copy.get("/", headers=PAGE)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/"
    assert 'tessera_session=""' in answer.headers["set-cookie"]


async def test_logged_out_visitors_are_sent_to_the_log_in_page(client: httpx.AsyncClient) -> None:
    async with sibling(client) as browser:
        for path in ("/", "/new", "/notifications", "/settings/profile", "/follow_requests"):
            answer = await browser.get(path, headers=PAGE)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/login?next={path}"
        # After logging in, the browser goes where it wanted to go; never to another site.
        login = await browser.get("/login", params={"next": "//evil.example/x"}, headers=PAGE)
        assert 'name="next" value="/"' in login.text


async def test_cookies_are_secure_over_https_and_behind_a_trusted_proxy(
    make_client: AppFactory, make_user: MakeUser
) -> None:
    user = await make_user("https")
    behind_proxy = await make_client(trusted_proxies="203.0.113.0/24")
    app = app_of(behind_proxy)
    cases = [
        ("https://tessera.test", {}, True),
        ("http://tessera.test", {"X-Forwarded-Proto": "https"}, True),
        ("http://tessera.test", {}, False),
    ]
    for base, headers, secure in cases:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=base) as browser:
            page = await browser.get("/login", headers={**PAGE, **headers})
            csrf = _cookie(page, "tessera_csrf")
            assert ("secure" in csrf) is secure
            # Sent by hand: a Secure cookie never rides over plain http in the client's
            # jar, while a real browser talks https to the proxy.
            answer = await browser.post(
                "/login",
                data={"login": user.username, "password": user.password},
                headers={
                    **headers,
                    "Cookie": f"tessera_csrf={csrf['value']}",
                    "X-CSRF-Token": csrf_of(page.text),
                },
            )
            assert answer.status_code == 303, answer.text
            assert ("secure" in _cookie(answer, SESSION)) is secure, (base, headers)
    # An untrusted peer cannot claim https for the client.
    transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as other:
        page = await other.get("/login", headers={**PAGE, "X-Forwarded-Proto": "https"})
        assert "secure" not in _cookie(page, "tessera_csrf")


async def test_state_changes_need_the_pages_csrf_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("csrfauthor"), await make_user("csrffan")
    post = await publish(client, author, "Guarded")
    async with browser_of(client, fan) as browser, browser_of(client, author) as other:
        good = await token(browser, f"/p/{post['id']}")
        theirs = await token(other, f"/p/{post['id']}")
        forged = [
            {},  # none at all
            {"csrf_token": "not-a-token"},
            {"csrf_token": good + "0"},  # tampered
            {"csrf_token": theirs},  # another browser's page
        ]
        for fields in forged:
            for action in (
                f"/p/{post['id']}/like",
                f"/p/{post['id']}/comments",
                f"/@{author.username}/follow",
                "/logout",
            ):
                refused = await browser.post(action, data={**fields, "status": "hi"}, headers=PAGE)
                assert refused.status_code == 403, (action, fields)
                assert "expired or was not sent from this site" in text_of(refused.text)
        # A wrong header is refused as well, for scripts.
        scripted = await browser.post(
            f"/p/{post['id']}/like", headers={**SCRIPT, "X-CSRF-Token": theirs}
        )
        assert scripted.status_code == 403
        assert scripted.json()["error"].startswith("This form expired")
        # Nothing changed: no like, no comment, no follow, still logged in.
        seen = (await client.get(f"/api/v1/statuses/{post['id']}", headers=author.auth)).json()
        assert seen["favourites_count"] == 0
        assert seen["replies_count"] == 0
        assert (await me(client, author.token)).json()["followers_count"] == 0
        assert (await browser.get("/", headers=PAGE)).status_code == 200
        # The log-in form is guarded too (no log-in CSRF).
        async with sibling(client) as stranger:
            plain = await stranger.post(
                "/login", data={"login": fan.username, "password": fan.password}, headers=PAGE
            )
            assert plain.status_code == 403
            assert SESSION not in stranger.cookies


async def test_web_requests_spend_the_same_budget_as_the_sessions_api_requests(
    make_client: AppFactory, backend: Backend, make_user: MakeUser
) -> None:
    limited = await make_client(
        ratelimit_api="6 per day", redis_prefix=unique_prefix(backend.settings_overrides)
    )
    async with sibling(limited, unique_ip()) as browser:
        person = _person()
        assert (await submit(browser, "/signup", "/signup", person)).status_code == 303
        # Before the session, the address paid; the home page is the token's first.
        assert (await browser.get("/", headers=PAGE)).status_code == 200
        session_token = browser.cookies[SESSION]
        for _ in range(5):  # the same token through the API: two to six
            assert (await me(limited, session_token)).status_code == 200
        refused = await browser.get("/", headers=PAGE)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert "<title>Slow down • Tessera</title>" in refused.text
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert (await me(limited, session_token)).status_code == 429
        # Static files are not counted.
        assert (await browser.get("/static/tessera.css")).status_code == 200
