"""Feishu/Lark callback crypto: body decryption/encryption and the three signatures.

Encrypted bodies: key = SHA-256(encrypt_key), blob = IV(16) ‖ AES-256-CBC(PKCS#7/16).
Signatures: events sha256(ts+nonce+encrypt_key+raw body), legacy card callbacks
sha1(ts+nonce+verification_token+raw body), custom bots HMAC-SHA256(key=ts+"\\n"+secret, "").
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.platforms.base import DECRYPT_FAILED, InboundRejected, ciphertext_bytes


def _aes_key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode("utf-8")).digest()


def decrypt(encrypt_key: str, blob: str) -> str:
    """Base64 blob → plaintext string; 400 on anything that is not a valid ciphertext."""
    raw = ciphertext_bytes(blob)
    dec = Cipher(algorithms.AES(_aes_key(encrypt_key)), modes.CBC(raw[:16])).decryptor()
    padded = dec.update(raw[16:]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise InboundRejected(400, DECRYPT_FAILED) from None


def encrypt_blob(encrypt_key: str, plaintext: str, iv: bytes | str | None = None) -> str:
    """Encrypt like Feishu does. Pass `iv` only for known-answer tests."""
    iv_bytes = os.urandom(16) if iv is None else iv.encode() if isinstance(iv, str) else iv
    if len(iv_bytes) != 16:
        raise ValueError("iv must be 16 bytes")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    enc = Cipher(algorithms.AES(_aes_key(encrypt_key)), modes.CBC(iv_bytes)).encryptor()
    return base64.b64encode(iv_bytes + enc.update(padded) + enc.finalize()).decode("ascii")


def encrypt_body(encrypt_key: str, plain_json: str, iv: bytes | str | None = None) -> str:
    """The `{"encrypt": ...}` request body Feishu posts when an Encrypt Key is set."""
    return json.dumps({"encrypt": encrypt_blob(encrypt_key, plain_json, iv)})


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign(ts: str, nonce: str, encrypt_key: str, body: bytes | str) -> str:
    """X-Lark-Signature of an event request, over the raw body bytes."""
    data = f"{ts}{nonce}{encrypt_key}".encode("utf-8") + _as_bytes(body)
    return hashlib.sha256(data).hexdigest()


def card_sign(ts: str, nonce: str, verification_token: str, body: bytes | str) -> str:
    """X-Lark-Signature of a legacy card callback: sha1 with the verification token."""
    data = f"{ts}{nonce}{verification_token}".encode("utf-8") + _as_bytes(body)
    return hashlib.sha1(data).hexdigest()


def signatures_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of hex signatures (case-insensitive)."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def custom_bot_sign(secret: str, ts: int | str) -> str:
    """`sign` for a custom-bot webhook body: the string is the HMAC *key*, the message empty."""
    key = f"{ts}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")
