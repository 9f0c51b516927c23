"""How reports look: `reports.images` sends the monthly dashboards and the stage-penetration
report as a chart picture inside their card (uploaded through each platform's image API), the
text version staying the fallback; `reports.font` names a CJK font file when the system's
(fonts-wqy-microhei, fonts-noto-cjk) should not be used. Read at start-up."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator


class Reports(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    images: bool = True          # false: every report goes as text (no upload at all)
    font: str = ""               # a .ttf/.ttc/.otf with Chinese glyphs; "" = find one installed

    @field_validator("font")
    @classmethod
    def _font_file(cls, value: str) -> str:
        value = value.strip()
        if value and not value.lower().endswith((".ttf", ".ttc", ".otf")):
            raise ValueError("font must be a .ttf, .ttc or .otf file / 字体须为 .ttf、.ttc 或 .otf 文件")
        return value
