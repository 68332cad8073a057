"""Build step of images/worker/Containerfile: fetch the rclone release zip, check it against
RCLONE_SHA256 (the pin), and install the binary. Python's own urllib, hashlib and zipfile, so
the image needs neither curl nor unzip."""
import hashlib
import os
import sys
import urllib.request
import zipfile

version, arch = os.environ["RCLONE_VERSION"], os.environ["RCLONE_ARCH"]
base = os.environ.get("RCLONE_BASE_URL", "https://downloads.rclone.org")  # or a mirror
dest = os.environ.get("RCLONE_DEST", "/usr/local/bin/rclone")
want = os.environ.get("RCLONE_SHA256", "").strip().lower()
if len(want) != 64:
    sys.exit("set --build-arg RCLONE_SHA256 to the sha256 of rclone-v%s-linux-%s.zip "
             "(https://downloads.rclone.org/v%s/SHA256SUMS)" % (version, arch, version))
name = "rclone-v%s-linux-%s" % (version, arch)
path = urllib.request.urlretrieve("%s/v%s/%s.zip" % (base, version, name))[0]
with open(path, "rb") as handle:
    got = hashlib.sha256(handle.read()).hexdigest()
if got != want:
    sys.exit("%s.zip has sha256 %s, not the pinned RCLONE_SHA256 %s" % (name, got, want))
with zipfile.ZipFile(path) as zf, open(dest, "wb") as out:
    out.write(zf.read(name + "/rclone"))
os.chmod(dest, 0o755)
if not base.startswith("file:"):  # a file: URL is read in place, not copied
    os.unlink(path)
