"""WXBizMsgCrypt: the sorted-SHA1 `msg_signature` and the AES-256-CBC envelope.

Shared by WeCom callbacks and DingTalk's encrypted event subscription (same algorithm, a
different receive-id). AES itself comes from `cryptography`; this module only builds and
checks the documented plaintext layout: random(16) ‖ len(4, big-endian) ‖ msg ‖ receive-id,
PKCS#7-padded to 32-byte blocks (so pad values run 1..32, not 1..16).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.platforms.base import (
    BAD_SIGNATURE,
    DECRYPT_FAILED,
    MISSING_SIGNATURE,
    WRONG_RECEIVER,
    InboundRejected,
    ciphertext_bytes,
)

PAD_BLOCK = 32
_ALPHANUM = string.ascii_letters + string.digits


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """sha1 hex of the four strings sorted (plain byte order) and concatenated."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def new_nonce(length: int = 16) -> str:
    """A random alphanumeric nonce / random prefix, like the official samples produce."""
    return "".join(secrets.choice(_ALPHANUM) for _ in range(length))


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """EncodingAESKey (43 chars) → 32-byte AES key. The message never echoes the key."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be exactly 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("EncodingAESKey is not valid base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey does not decode to 32 bytes")
    return key


class MsgCrypt:
    """Sign, verify, encrypt and decrypt for one (token, EncodingAESKey, receive-id)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not token:
            raise ValueError("callback token is required")
        self._token = token
        self._key = decode_aes_key(encoding_aes_key)
        self.receive_id = receive_id

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return msg_signature(self._token, timestamp, nonce, encrypt)

    def verify(self, signature: str | None, timestamp: str, nonce: str, encrypt: str) -> None:
        """401 unless `signature` matches; compared in constant time."""
        if not signature:
            raise InboundRejected(401, MISSING_SIGNATURE)
        expected = self.sign(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise InboundRejected(401, BAD_SIGNATURE)

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, plaintext: str | bytes, random16: bytes | str | None = None) -> str:
        """Encrypt to Base64. Pass `random16` only for known-answer tests."""
        msg = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        prefix = random16 if random16 is not None else new_nonce(16)
        prefix = prefix.encode("utf-8") if isinstance(prefix, str) else prefix
        if len(prefix) != 16:
            raise ValueError("random prefix must be 16 bytes")
        data = prefix + len(msg).to_bytes(4, "big") + msg + self.receive_id.encode("utf-8")
        pad = PAD_BLOCK - len(data) % PAD_BLOCK  # 1..32; a full block when already aligned
        data += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(data) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """Decrypt and check layout and receive-id. 400 on garbage, 403 on another receiver."""
        raw = ciphertext_bytes(encrypt)
        dec = self._cipher().decryptor()
        plain = dec.update(raw) + dec.finalize()
        msg, receive_id = _split_plaintext(plain)
        if not hmac.compare_digest(receive_id, self.receive_id.encode("utf-8")):
            raise InboundRejected(403, WRONG_RECEIVER)
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise InboundRejected(400, DECRYPT_FAILED) from None

    def encrypt_and_sign(self, plaintext: str, nonce: str, timestamp: str,
                         random16: bytes | str | None = None) -> tuple[str, str]:
        """(encrypt, msg_signature) for a callback or a passive reply."""
        encrypt = self.encrypt(plaintext, random16)
        return encrypt, self.sign(timestamp, nonce, encrypt)

    def passive_reply(self, plain_xml: str, nonce: str, timestamp: str,
                      random16: bytes | str | None = None) -> str:
        """The encrypted XML envelope WeCom accepts as a passive (in-response) reply."""
        encrypt, signature = self.encrypt_and_sign(plain_xml, nonce, timestamp, random16)
        return (f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
                f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
                f"<TimeStamp>{timestamp}</TimeStamp>"
                f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>")


def _split_plaintext(plain: bytes) -> tuple[bytes, bytes]:
    """Strip the 32-byte PKCS#7 pad and split random ‖ len ‖ msg ‖ receive-id."""
    pad = plain[-1]
    if not 1 <= pad <= PAD_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise InboundRejected(400, DECRYPT_FAILED)
    body = plain[16:-pad]
    if len(body) < 4:
        raise InboundRejected(400, DECRYPT_FAILED)
    length = int.from_bytes(body[:4], "big")
    if length > len(body) - 4:
        raise InboundRejected(400, DECRYPT_FAILED)
    return body[4:4 + length], body[4 + length:]
