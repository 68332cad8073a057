"""Offline stand-in for get-pip.py, which ansible-test downloads to put pip into the virtual
environments of its sanity tests. This machine reaches PyPI but not that download host, so pip
is bootstrapped from the wheel bundled with Python (ensurepip) and then asked for what
ansible-test wanted (e.g. pip==24.2) from the package index."""
import ensurepip
import os
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
ensurepip.bootstrap()
from pip._internal.cli.main import main  # noqa: E402  (pip exists only after bootstrap)

# ansible-test runs this with a filtered environment: keep the machine's CA bundle (an
# intercepting proxy's CA may be in it) and its package index settings.
extra = []
for var, opt in (("PIP_CERT", "--cert"), ("SSL_CERT_FILE", "--cert")):
    if os.environ.get(var) and "--cert" not in extra:
        extra += [opt, os.environ[var]]
if "--cert" not in extra and os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
    extra += ["--cert", "/etc/ssl/certs/ca-certificates.crt"]
sys.exit(main(["install"] + extra + args))
