"""`openmsk ca-cert [--install | --uninstall]`: the installation CA that signs every broker and
ZooKeeper certificate, and a reversible way to make this machine's TLS clients trust it.

Without options: print the CA's path (for `ssl.truststore.location`, `-CAfile`, `--cafile`).
`--install` copies it to /usr/local/share/ca-certificates/openmsk-<sha256 prefix>.crt and runs
`update-ca-certificates` (Debian/Ubuntu), so OpenSSL-based tools (openssl, curl, kcat, Python's
`ssl.create_default_context()`) trust the brokers without options; `--uninstall` removes exactly that
file and runs it again. Tools that ship their own CA list are not affected by either: Python's
requests/certifi (point REQUESTS_CA_BUNDLE / SSL_CERT_FILE at the system bundle) and Java (the Kafka
tools keep using `ssl.truststore.location`, see `openmsk client-config`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .common import EXIT_OK, CliError, data_dir, say

SYSTEM_CA_DIR = Path("/usr/local/share/ca-certificates")
SYSTEM_CERTS = Path("/etc/ssl/certs")
SYSTEM_BUNDLE = SYSTEM_CERTS / "ca-certificates.crt"


def installed_name(pem: bytes) -> str:
    """One file per CA (two installations on one machine have different CAs, so different files)."""
    return f"openmsk-{hashlib.sha256(pem).hexdigest()[:16]}.crt"


def _update_ca_certificates() -> None:
    tool = shutil.which("update-ca-certificates") or "/usr/sbin/update-ca-certificates"
    if not os.path.exists(tool):
        raise CliError("update-ca-certificates not found: this needs Debian's ca-certificates package "
                       "(apt-get install ca-certificates); on other systems add the file printed by "
                       "`openmsk ca-cert` to the system store by hand")
    done = subprocess.run([tool], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise CliError(f"update-ca-certificates failed: {(done.stderr or done.stdout).strip()}")


def _remove_links(target: Path) -> None:
    """The links update-ca-certificates made for `target` (<name>.pem and the OpenSSL hash link to it).
    It rebuilds the bundle without a removed local certificate but leaves these dangling."""
    pem = target.stem + ".pem"
    for link in SYSTEM_CERTS.iterdir():
        if link.is_symlink() and os.readlink(link) in (str(target), pem, str(SYSTEM_CERTS / pem)):
            link.unlink()


def _needs_root(action: str, args) -> CliError:
    return CliError(f"changing the system certificate store needs root: "
                    f"sudo openmsk ca-cert --{action} --data-dir {data_dir(args)}")


def cmd_ca_cert(args) -> int:
    path = data_dir(args) / "pki" / "ca.pem"
    if not path.exists():
        raise CliError(f"no CA yet at {path}; start the service once with `openmsk serve`")
    if not (args.install or args.uninstall):
        say(str(path))
        return EXIT_OK
    pem = path.read_bytes()
    target = SYSTEM_CA_DIR / installed_name(pem)
    if args.install:
        try:
            SYSTEM_CA_DIR.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(pem)
            tmp.chmod(0o644)
            os.replace(tmp, target)
        except PermissionError:
            raise _needs_root("install", args)
        _update_ca_certificates()
        say(f"installed {target} into the system certificate store ({SYSTEM_BUNDLE}); undo with "
            f"`openmsk ca-cert --uninstall`")
        say("Python tools with their own CA list (requests/certifi, boto) do not read it; point them at it:")
        say(f"  export REQUESTS_CA_BUNDLE={SYSTEM_BUNDLE} SSL_CERT_FILE={SYSTEM_BUNDLE}")
        return EXIT_OK
    if not target.exists():
        say(f"not installed ({target} does not exist); nothing to do")
        return EXIT_OK
    try:
        target.unlink()
        _remove_links(target)
    except PermissionError:
        raise _needs_root("uninstall", args)
    _update_ca_certificates()
    say(f"removed {target} from the system certificate store")
    return EXIT_OK


def register(add) -> None:
    p = add("ca-cert", cmd_ca_cert, "print the path of the CA certificate (PEM) that signs broker certificates; "
                                    "--install / --uninstall add it to / remove it from the system store")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--install", action="store_true",
                       help="trust it system-wide (Debian: /usr/local/share/ca-certificates + update-ca-certificates)")
    group.add_argument("--uninstall", action="store_true", help="undo --install")
