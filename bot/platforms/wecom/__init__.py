"""WeCom (企业微信) inbound: callback crypto (WXBizMsgCrypt) and the callback adapter."""
from bot.platforms.wecom.crypto import MsgCrypt, msg_signature
from bot.platforms.wecom.inbound import WeComInbound, wecom_message_to_event

__all__ = ["MsgCrypt", "WeComInbound", "msg_signature", "wecom_message_to_event"]
