"""DingTalk (钉钉) inbound: robot/card HTTP callbacks, Stream frames and the sign helpers."""
from bot.platforms.dingtalk.inbound import (
    DingTalkInbound,
    dingtalk_payload_to_event,
    stream_frame_to_event,
)
from bot.platforms.dingtalk.signing import custom_robot_sign, robot_headers, robot_sign

__all__ = ["DingTalkInbound", "custom_robot_sign", "dingtalk_payload_to_event", "robot_headers",
           "robot_sign", "stream_frame_to_event"]
