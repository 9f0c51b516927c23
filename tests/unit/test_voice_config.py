"""Every transcriber setting is set in config and checked by `config check`: bilingual problems
naming the key path; any faster-whisper model directory by path (issue 16)."""
from __future__ import annotations

from pathlib import Path

import pytest

from crm_core.config.loader import ConfigError, parse_config


def problems(voice: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config({"voice": voice})
    return err.value.problems


def test_defaults_are_mandarin_first_greedy_and_reviewed() -> None:
    v = parse_config({}).voice
    assert (v.language, v.languages, v.beam_size, v.threads, v.compute_type) == (None, ["zh", "en"], 1, 2, "int8")
    assert v.initial_prompt is None and v.crm_hotwords and v.review_below == 0.4


def test_every_setting_is_read() -> None:
    v = parse_config({"voice": {"language": "zh-CN", "languages": ["zh", "en", "yue"], "beam_size": 3, "threads": 4,
                                "compute_type": "int8_float32", "initial_prompt": "", "switch_probability": 0.9,
                                "crm_hotwords": False, "review_below": 0.5}}).voice
    assert (v.language, v.languages, v.beam_size, v.threads) == ("zh", ["zh", "en", "yue"], 3, 4)
    assert (v.compute_type, v.initial_prompt, v.switch_probability, v.crm_hotwords, v.review_below) == (
        "int8_float32", "", 0.9, False, 0.5)
    assert parse_config({"voice": {"language": "auto"}}).voice.language is None


@pytest.mark.parametrize("voice, path, chinese", [
    ({"beam_size": 0}, "voice.beam_size", "应为 1 到 10 的整数"),
    ({"threads": 200}, "voice.threads", "应为 1 到 64 的整数"),
    ({"compute_type": "int4"}, "voice.compute_type", "不是可用的计算类型"),
    ({"language": "chinese"}, "voice.language", "不是语言代码"),
    ({"languages": []}, "voice.languages", "至少列出一种语言"),
    ({"languages": ["zh", "zh-CN"]}, "voice.languages", "有语言重复"),
    ({"switch_probability": 0.2}, "voice.switch_probability", "应在 0.5 到 1 之间"),
    ({"review_below": 1.5}, "voice.review_below", "应在 0.0 到 1 之间"),
    ({"initial_prompt": "很长" * 101}, "voice.initial_prompt", "最多 200 字"),
    ({"model_path": "/nonexistent/whisper-small"}, "voice.model_path", "不是文件夹"),
    ({"backend": "openai-whisper"}, "voice.model_path", "需要本地模型文件"),
])
def test_bad_settings_name_their_key_in_both_languages(voice: dict, path: str, chinese: str) -> None:
    found = [p for p in problems(voice) if p.startswith(f"{path}:")]
    assert found and chinese in found[0] and " / " in found[0], problems(voice)


def test_model_directory_by_path(tmp_path: Path) -> None:
    model = tmp_path / "faster-whisper-small"
    model.mkdir()
    (model / "model.bin").write_bytes(b"\0")
    lacking = problems({"model_path": str(model)})
    assert any("config.json" in p and "tokenizer.json" in p for p in lacking), lacking
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")
    assert parse_config({"voice": {"model_path": str(model)}}).voice.model_path == str(model)
