"""Private signing keys, encrypted at rest in the instance folder.

One file per key, ``keystore/<kid>.json``, holding the Ed25519 seed encrypted with Fernet
(AES-128-CBC + HMAC-SHA256) under the master keys. The master keys come from
``TRACEQR_MASTER_KEYS`` (comma-separated) or ``instance/master.key`` (one per line),
created once. The first master key encrypts; every one of them decrypts, so the master
key can be rotated by adding a new first line and re-encrypting (``reencrypt_all``;
``traceqr keys rotate-master`` does both, docs/keys.md). A key store whose master keys come
from the file reads the file again when a key does not decrypt, so running processes
follow a rotation without a restart.

The database only ever holds public keys.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from traceqr.config import Settings, read_or_create_secret
from traceqr.domain.keys import StampSigner, kid_text, public_key_from_seed
from traceqr.errors import KeyStoreError

FILE_FORMAT = "traceqr-keystore-v1"


def load_master_keys(settings: Settings) -> list[str]:
    if settings.master_keys:
        return list(settings.master_keys)
    text = read_or_create_secret(
        master_key_path(settings), lambda: Fernet.generate_key().decode("ascii")
    )
    return [line.strip() for line in text.splitlines() if line.strip()]


def master_key_path(settings: Settings) -> Path:
    return settings.instance_path / "master.key"


def _multi_fernet(master_keys: Sequence[str]) -> MultiFernet:
    if not master_keys:
        raise KeyStoreError("no master key configured for the key store")
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in master_keys])
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(
            "a master key is not a valid Fernet key (32 url-safe base64 bytes)"
        ) from exc


class KeyStore:
    def __init__(
        self,
        directory: Path,
        master_keys: Sequence[str],
        reload: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self._fernet = _multi_fernet(master_keys)
        self._reload = reload
        self.directory = directory

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        reload = None if settings.master_keys else (lambda: load_master_keys(settings))
        return cls(settings.keystore_path, load_master_keys(settings), reload)

    def _decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            if self._reload is None:
                raise
        # The master key file may have changed under us (a rotation): read it again.
        self._fernet = _multi_fernet(self._reload())
        return self._fernet.decrypt(token)

    def _path(self, kid: bytes) -> Path:
        return self.directory / f"{kid_text(kid)}.json"

    def has(self, kid: bytes) -> bool:
        return self._path(kid).exists()

    def store(self, kid: bytes, seed: bytes) -> None:
        """Write a new key file atomically; never overwrites an existing key."""
        if self._reload is not None:
            self._fernet = _multi_fernet(self._reload())  # encrypt under today's first key
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(kid)
        document = {
            "format": FILE_FORMAT,
            "kid": kid_text(kid),
            "public_key": base64.b64encode(public_key_from_seed(seed)).decode("ascii"),
            "encrypted_seed": self._fernet.encrypt(seed).decode("ascii"),
        }
        self._write_new(path, json.dumps(document, indent=2) + "\n")

    def _write_new(self, path: Path, text: str, replace: bool = False) -> None:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            if replace:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # fails if the key exists: a key is never overwritten
        except FileExistsError as exc:
            raise KeyStoreError(f"key {path.stem} already exists in the key store") from exc
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _read(self, kid: bytes) -> dict[str, str]:
        path = self._path(kid)
        try:
            document = json.loads(path.read_text(encoding="ascii"))
        except FileNotFoundError as exc:
            raise KeyStoreError(
                f"the private key {kid_text(kid)} is not in the key store at {self.directory}"
            ) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyStoreError(f"key file {path.name} is damaged") from exc
        if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
            raise KeyStoreError(f"key file {path.name} is not a TraceQR key file")
        return document

    def load_signer(self, kid: bytes, expected_public_key: bytes) -> StampSigner:
        """The signer for ``kid``, checked against the public key the registry holds."""
        document = self._read(kid)
        try:
            seed = self._decrypt(document["encrypted_seed"].encode("ascii"))
        except (InvalidToken, KeyError) as exc:
            raise KeyStoreError(
                f"key {kid_text(kid)} cannot be decrypted with the configured master keys"
            ) from exc
        signer = StampSigner(kid, seed)
        if signer.public_key != expected_public_key:
            raise KeyStoreError(f"key file {kid_text(kid)} does not match the registered key")
        return signer

    def reencrypt_all(self) -> int:
        """Re-encrypt every key under the first master key (after adding a new one). Each
        file is replaced atomically, so readers see the old file or the new, never half."""
        count = 0
        for path in sorted(self.directory.glob("*.json")):
            document = json.loads(path.read_text(encoding="ascii"))
            token = document["encrypted_seed"].encode("ascii")
            try:
                document["encrypted_seed"] = self._fernet.rotate(token).decode("ascii")
            except InvalidToken as exc:
                raise KeyStoreError(
                    f"key file {path.name} does not decrypt with any configured master key"
                ) from exc
            self._write_new(path, json.dumps(document, indent=2) + "\n", replace=True)
            count += 1
        return count

    def files_not_under(self, master_key: str) -> list[str]:
        """The key files that the given master key alone cannot decrypt (after a rotation,
        none should be left before the old master key is dropped)."""
        only = _multi_fernet([master_key])
        left = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                token = json.loads(path.read_text(encoding="ascii"))["encrypted_seed"]
                only.decrypt(token.encode("ascii"))
            except (InvalidToken, KeyError, ValueError):
                left.append(path.stem)
        return left


def new_master_key() -> str:
    return Fernet.generate_key().decode("ascii")


def write_master_key_file(path: Path, master_keys: Sequence[str]) -> None:
    """Replace the master key file atomically (mode 0600), first key first."""
    _multi_fernet(master_keys)  # refuse to write a file no process could use
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("\n".join(master_keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
