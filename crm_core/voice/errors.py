"""User-facing voice errors. Every failure on the voice path (decode, model, ASR) becomes a
`VoiceError` with a stable `code` for logs/metrics and a polite Simplified Chinese
`user_message` for the rep; internal detail stays in `detail` and never reaches the chat."""
from __future__ import annotations

from typing import Literal, get_args

VoiceErrorCode = Literal["empty", "too_long", "corrupt", "no_speech", "asr_disabled", "asr_failed"]
VOICE_ERROR_CODES: tuple[str, ...] = get_args(VoiceErrorCode)

_DEFAULT_MESSAGES: dict[str, str] = {
    "empty": "收到的语音是空的,请重新录一遍或直接打字。",
    "too_long": "语音太长了(超过3分钟),请分段发送或直接打字。",
    "corrupt": "这段语音文件无法读取,请重新发送或直接打字。",
    "no_speech": "没有听清这段语音,请重说一遍或直接打字。",
    "asr_disabled": "语音识别未启用,请直接发送文字。",
    "asr_failed": "语音识别暂时出错了,请稍后再试或直接打字。",
}

UNSUPPORTED_FORMAT_MESSAGE = "暂不支持这种语音格式({name}),请用系统自带的语音消息重新发送或直接打字。"
TOO_LARGE_MESSAGE = "语音文件太大了,请分段发送或直接打字。"


class VoiceError(Exception):
    """A voice note could not be turned into text; `user_message` is safe to send to the rep."""

    def __init__(self, code: VoiceErrorCode, detail: str = "", user_message: str | None = None) -> None:
        if code not in VOICE_ERROR_CODES:
            raise ValueError(f"unknown voice error code: {code!r}")
        self.code: VoiceErrorCode = code
        self.detail = detail
        self.user_message = user_message or _DEFAULT_MESSAGES[code]
        super().__init__(f"{code}: {detail}" if detail else code)


def too_long_message(max_seconds: float) -> str:
    """The `too_long` reply naming the configured limit ("3分钟", "90秒")."""
    seconds = int(round(max_seconds))
    if seconds >= 60 and seconds % 60 == 0:
        limit = f"{seconds // 60}分钟"
    else:
        limit = f"{seconds}秒"
    return f"语音太长了(超过{limit}),请分段发送或直接打字。"
