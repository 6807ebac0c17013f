"""Whether the system has a font for Chinese text, as fontconfig (which WeasyPrint uses) sees it."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

# Families the documents ask for, in order; fontconfig falls back to any font covering `zh`.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
INSTALL_HINT = (
    "No CJK font found: Chinese text in labels and delivery notes will not show. Install one, "
    "e.g. `apt-get install fonts-noto-cjk` (Debian/Ubuntu) or `dnf install google-noto-sans-cjk-fonts`."
)


@cache
def cjk_font_status() -> str:
    """`ok` when fontconfig lists a font covering Chinese (`fc-list :lang=zh`), else `missing`
    (also when fontconfig's tools are absent). Asked once per process."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return "missing"
    try:
        found = subprocess.run(
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "missing"
    return "ok" if found.strip() else "missing"
