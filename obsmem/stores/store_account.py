"""The unprivileged account the embedded stores run as.

Why: Postgres refuses to run as root, and a store process running as root
turns any store bug (or `COPY ... TO PROGRAM`) into root. Run as a normal user,
obsmem runs the stores as that user. Run as root (containers, CI), it runs them
as a dedicated system account (`obsmem`, or `OBSMEM_STORE_USER`) with no login
shell and no home, created once with `useradd --system` when missing
(`OBSMEM_STORE_USER_CREATE=0` refuses instead and says how). The stores reach
their directories through the working directory they are started in, so no
directory above the data dir is ever opened up for them.
"""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("obsmem.stores.embedded")

STORE_USER_ENV = "OBSMEM_STORE_USER"
DEFAULT_STORE_USER = "obsmem"


class StoreAccountError(RuntimeError):
    """No unprivileged account to run the stores as; the message says how to provide one."""


@dataclass(frozen=True, slots=True)
class StoreAccount:
    """Who the store processes run as, and how to start a child as them."""

    name: str
    uid: int
    gid: int

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    @property
    def owner(self) -> tuple[int, int]:
        return self.uid, self.gid

    def popen_kwargs(self) -> dict[str, Any]:
        """subprocess arguments: private umask, and the account switch when we are root."""
        kw: dict[str, Any] = {"umask": 0o077}
        if not self.is_self:
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
        return kw

    def chown(self, path: os.PathLike[str] | str) -> None:
        """Hand `path` to the account (no-op when that is us)."""
        if not self.is_self:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)


def _how() -> str:
    return (
        "create it once as root with `useradd --system --user-group --no-create-home "
        "--home-dir /nonexistent --shell /usr/sbin/nologin obsmem` (or name another "
        f"unprivileged account in {STORE_USER_ENV}), or run obsmem as a non-root user"
    )


def _create(name: str) -> None:
    if os.environ.get("OBSMEM_STORE_USER_CREATE", "1").strip() == "0":
        raise StoreAccountError(
            f"the embedded stores do not run as root and account {name!r} does not exist: " + _how()
        )
    log.warning("creating system account %r to run the embedded stores (once)", name)
    cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
           "--shell", "/usr/sbin/nologin", name]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise StoreAccountError(f"could not create account {name!r} ({detail}); " + _how()) from exc


def store_account() -> StoreAccount:
    """This user when not root; otherwise the dedicated unprivileged account (created if missing)."""
    euid = os.geteuid()
    if euid != 0:
        return StoreAccount(
            pwd.getpwuid(euid).pw_name if _known(euid) else str(euid), euid, os.getegid()
        )
    name = os.environ.get(STORE_USER_ENV, "").strip() or DEFAULT_STORE_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        _create(name)
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise StoreAccountError(
            f"{STORE_USER_ENV}={name!r} is a root account; the stores must not run as root: "
            + _how()
        )
    return StoreAccount(name, entry.pw_uid, entry.pw_gid)


def _known(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False
