"""Encryption of secrets at rest with Fernet (AES-128-CBC + HMAC-SHA256).

``MultiFernet`` encrypts with the first key of ``SECRETS_ENCRYPTION_KEYS`` and decrypts
with any of them, so keys can be rotated without re-encrypting everything at once.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt_secret(value: str) -> str:
    return _fernet(tuple(settings.SECRETS_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _fernet(tuple(settings.SECRETS_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
