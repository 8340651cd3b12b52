"""A small HTTP client for tests against a running server (not Django's test client): cookies,
Django's CSRF token, and no redirects followed, so a test reads the Location itself."""

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self, base):
        self.base, self.jar = base, http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def csrf(self):
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path):
        """(status, body)."""
        try:
            with self.opener.open(self.base + path, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, path, data):
        """(status, Location, body) of a form POST with the CSRF token."""
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": self.csrf(), **data}).encode()
        request = urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path})
        try:
            with self.opener.open(request, timeout=600) as r:
                return r.status, r.headers.get("Location"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Location"), e.read().decode()

    def reachable(self):
        try:
            return self.get("/login/")[0] == 200
        except OSError:
            return False

    def login(self, user, password):
        self.get("/login/")
        return self.post("/login/", {"username": user, "password": password})
