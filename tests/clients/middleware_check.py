"""keystonemiddleware's auth_token, wrapping a small WSGI app, against the auth clone.

    python3 middleware_check.py AUTH_URL ADMIN_PASSWORD DEMO_PASSWORD

Prints one line per check and exits non-zero on the first failure.
"""
import json
import sys
import urllib.request

import webob
from keystonemiddleware import auth_token

url, admin_pw, demo_pw = sys.argv[1:4]


def token(user, password, project):
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    req = urllib.request.Request(url + "/v3/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.headers["X-Subject-Token"]


seen = {}


def app(environ, start_response):
    seen.clear()
    seen.update({k: v for k, v in environ.items() if k.startswith("HTTP_X_")})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


middleware = auth_token.filter_factory(
    {},
    www_authenticate_uri=url,
    auth_url=url,
    auth_type="password",
    username="admin",
    password=admin_pw,
    project_name="admin",
    user_domain_name="Default",
    project_domain_name="Default",
    service_token_roles="admin",
    service_token_roles_required="true",
)(app)


def call(headers):
    return webob.Request.blank("/", headers=headers).get_response(middleware)


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail))
    if not ok:
        sys.exit(1)


user = token("demo", demo_pw, "demo")
r = call({"X-Auth-Token": user})
check("valid user token is accepted", r.status_int == 200, r.status)
check("identity confirmed", seen.get("HTTP_X_IDENTITY_STATUS") == "Confirmed", str(seen))
check("user and project headers", seen.get("HTTP_X_USER_NAME") == "demo"
      and seen.get("HTTP_X_PROJECT_NAME") == "demo" and seen.get("HTTP_X_USER_DOMAIN_NAME") == "Default",
      str(seen))
check("roles header", "member" in seen.get("HTTP_X_ROLES", "").split(","), str(seen))

r = call({"X-Auth-Token": "not-a-token"})
check("bad token is refused with 401", r.status_int == 401, r.status)
check("401 names the identity service", ('Keystone uri="%s"' % url) in r.headers.get("WWW-Authenticate", ""),
      str(r.headers))

service = token("admin", admin_pw, "admin")
r = call({"X-Auth-Token": user, "X-Service-Token": service})
check("user token with a service token is accepted", r.status_int == 200, r.status)
check("service identity confirmed", seen.get("HTTP_X_SERVICE_IDENTITY_STATUS") == "Confirmed", str(seen))
check("service roles header", "admin" in seen.get("HTTP_X_SERVICE_ROLES", "").split(","), str(seen))

r = call({"X-Auth-Token": user, "X-Service-Token": "not-a-token"})
check("a bad service token is refused", r.status_int == 401, r.status)
print("all middleware checks passed")
