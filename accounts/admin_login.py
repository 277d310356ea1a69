"""Admin login lockout (django-axes), and the client address every throttle counts by.

Axes counts failed logins per username and client address together
(``AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]``) and, after
``ADMIN_LOGIN_FAILURE_LIMIT`` of them within ``ADMIN_LOGIN_COOLOFF_MINUTES``, refuses further
logins of that username from that address — the right password too — until the cool-off
ends or an operator unlocks (``manage.py axes_reset_username <name>``,
``axes_reset_ip <address>``, ``axes_reset``). The pair, because a count per username lets
anyone lock a staff user out, and a count per address locked out every other staff user
behind the same address (an office, the proxy).
It guards the admin only: the API's token endpoint and bearer tokens have throttles of their
own that answer in the API's JSON (accounts/throttling.py, accounts/authentication.py), so
failures elsewhere are neither counted nor locked out here.
"""

from axes.handlers.database import AxesDatabaseHandler
from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind ``NUM_PROXIES`` trusted proxies the
    address they saw in X-Forwarded-For (DRF's rule, so every throttle counts the same)."""
    return BaseThrottle().get_ident(request)


class AdminLoginHandler(AxesDatabaseHandler):
    """Axes' database handler for admin logins only (see module)."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is not None and not self.is_admin_request(request):
            return
        super().user_login_failed(sender, credentials, request, **kwargs)

    def user_logged_in(self, sender, request, user, **kwargs):
        if request is not None and not self.is_admin_request(request):
            return
        super().user_logged_in(sender, request, user, **kwargs)
